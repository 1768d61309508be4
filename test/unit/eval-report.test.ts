/**
 * The reports: the compact Markdown summary stays under 8 KB however many slices fail and keeps
 * its links; the full Markdown and the SVG plots hold what a reviewer needs; JSON has no NaN.
 */
import { describe, expect, it } from 'vitest';
import { evaluateScores } from '../../lib/eval/evaluate';
import {
  evaluationMarkdown,
  evaluationPlots,
  evaluationSummary,
  jsonNumbers,
  SUMMARY_LIMIT,
  type EvaluationReport,
  type ReportContext,
} from '../../lib/eval/report';

const ctx = (champion: boolean): ReportContext => ({
  model: 'fraud-detector',
  candidate: {
    version: '7',
    runId: 'run7',
    onnxUri: 's3://mlo/models/a.onnx',
    sha256: 'a'.repeat(64),
    handlesMissing: true,
    missingReason: 'its input feeds only TreeEnsembleClassifier, which treat NaN as missing',
  },
  champion: champion
    ? {
        version: '6',
        runId: 'run6',
        onnxUri: 's3://mlo/models/b.onnx',
        sha256: 'b'.repeat(64),
        handlesMissing: true,
        missingReason: 'x',
      }
    : null,
  championNote: champion ? null : 'no version of fraud-detector has the alias @champion yet (first version)',
  snapshot: { manifestUri: 's3://mlo/features/m.json', hash: 'snap' },
  window: { from: '2025-03-01', to: '2025-03-08', days: ['2025-03-01'] },
  reportPrefix: 's3://mlo/reports/fraud-detector/7/0123456789abcdef/evaluation/',
  mlflowRunUrl: 'http://127.0.0.1:5050/#/experiments/3/runs/run7',
  codeVersion: 'abc',
  workflowId: 'wf-1',
});

/** n rows over `k` slice values where the candidate is worse than the champion in every slice. */
function report(k: number, champion = true): EvaluationReport {
  const n = 400 * k;
  const labels = Uint8Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 1 : 0));
  const champ = Float64Array.from({ length: n }, (_, i) => (labels[i] ? 0.6 : 0.4) + ((i * 7) % 10) / 50);
  const cand = Float64Array.from({ length: n }, (_, i) => (labels[i] ? 0.55 : 0.45) + ((i * 13) % 10) / 30);
  const values = Array.from({ length: k }, (_, j) => `merchant_${String(j).padStart(4, '0')}`);
  const result = evaluateScores({
    candidate: cand,
    champion: champion ? champ : null,
    labels,
    slices: [{ column: 'merchant', codes: Int32Array.from({ length: n }, (_, i) => Math.floor(i / 400)), values }],
    fixedFpr: 0.05,
    operatingThreshold: 0.5,
    gates: ['auc >= 0.85', 'auc_delta >= -0.002', 'slice_auc_delta >= -0.01 where n >= 100'],
  });
  return {
    ...ctx(champion),
    kind: 'mlo.evaluation-report/v1',
    options: { fixedFpr: 0.05, operatingThreshold: 0.5, slices: ['merchant'], gates: [] },
    rows: { total: n + 10, labelled: n, positives: n / 4 },
    missingValues: { amount: 0, sum_24h: 12 },
    result,
  };
}

describe('evaluation summary', () => {
  it('shows the verdict, the gates, the metrics table, failing slices and the links', () => {
    const md = evaluationSummary(report(3));
    expect(md).toMatch(/^### Evaluation: fraud-detector v7 vs champion v6 — FAILED\n/);
    expect(md).toContain('| `auc_delta >= -0.002` |');
    expect(md).toContain('| metric | candidate | champion | Δ |');
    expect(md).toMatch(/\| ROC AUC \| \d\.\d{4} \| \d\.\d{4} \| [+-]\d\.\d{4} \|/);
    expect(md).toMatch(
      new RegExp(
        String.raw`AUC Δ \(candidate − champion\) -0\.\d{4}, 95% CI \[-0\.\d{4}, [+-]0\.\d{4}\], ` +
          String.raw`p [=<] .* \(DeLong, paired on the same 1,200 rows\)`,
      ),
    );
    expect(md).toContain('Failing slices:\n- merchant=merchant_0000 (n=400, 100 positives): slice_auc_delta -0.');
    expect(md).toContain('[MLflow run](http://127.0.0.1:5050/#/experiments/3/runs/run7)');
    expect(md).toContain('s3://mlo/reports/fraud-detector/7/0123456789abcdef/evaluation/report.md');
  });

  it(`stays under ${SUMMARY_LIMIT} bytes with hundreds of failing slices, keeping the links`, () => {
    const md = evaluationSummary(report(300));
    expect(new TextEncoder().encode(md).length).toBeLessThanOrEqual(SUMMARY_LIMIT);
    expect(md).toContain('… 285 more in the report');
    expect(
      md.endsWith(
        '[MLflow run](http://127.0.0.1:5050/#/experiments/3/runs/run7) · ' +
          'report: `s3://mlo/reports/fraud-detector/7/0123456789abcdef/evaluation/report.md`',
      ),
    ).toBe(true);
  });

  it('without a champion says so and shows the candidate alone', () => {
    const md = evaluationSummary(report(2, false));
    expect(md).toContain('vs no champion (no version of fraud-detector has the alias @champion yet (first version))');
    expect(md).toContain('| metric | candidate |\n');
    expect(md).toContain('| `auc_delta >= -0.002` | — | ➖ n/a | n/a: no champion');
  });
});

describe('full report and plots', () => {
  it('the Markdown report lists every slice, missing values, lineage and the definitions', () => {
    const md = evaluationMarkdown(report(3));
    expect(md).toContain('| merchant=merchant_0002 | 400 | 100 |');
    expect(md).toContain('`sum_24h`: 12.');
    expect(md).toContain('- champion v6: run `run6`, s3://mlo/models/b.onnx');
    expect(md).toContain('AUC counts tied positive/negative pairs one half');
  });

  it('plots ROC, PR, reliability and score histograms of both models as standalone SVG', () => {
    const plots = evaluationPlots(report(3));
    expect(Object.keys(plots).sort()).toEqual(['calibration.svg', 'pr.svg', 'roc.svg', 'scores.svg']);
    for (const svg of Object.values(plots)) {
      expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="520" height="400"/);
      expect(svg.endsWith('</svg>')).toBe(true);
      expect(svg).not.toMatch(/NaN|Infinity|undefined/);
    }
    expect(plots['roc.svg']!.match(/<polyline/g)).toHaveLength(2);
    expect(plots['roc.svg']).toContain('champion v6 (');
    expect(plots['scores.svg']!.match(/<polyline/g)).toHaveLength(4);
    expect(evaluationPlots(report(3, false))['roc.svg']!.match(/<polyline/g)).toHaveLength(1);
  });

  it('JSON writes non-finite numbers as null', () => {
    expect(JSON.stringify({ a: Infinity, b: NaN, c: 1 }, jsonNumbers)).toBe('{"a":null,"b":null,"c":1}');
    const parsed = JSON.parse(JSON.stringify(report(2), jsonNumbers)) as EvaluationReport;
    expect(parsed.result.curves.candidate.roc[0]).toEqual({ fpr: 0, tpr: 0 });
  });
});
