import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/infra/config';
import { summaryOf } from '../../scripts/bench/lib/summary';

describe('summaryOf', () => {
  it("joins the lines of the first doc comment's first paragraph", () => {
    expect(summaryOf('/**\n * One: a\n * long line.\n *\n * More.\n */\ncode();')).toBe('One: a long line.');
    expect(summaryOf('#!/usr/bin/env node\n/**\n * Only.\n */')).toBe('Only.');
    expect(summaryOf('/** Inline. */')).toBe('Inline.');
    expect(summaryOf('const x = 1;')).toBe('');
  });

  it('gives the benchmarks their one-line summaries', () => {
    const of = (name: string) =>
      summaryOf(readFileSync(path.join(PROJECT_ROOT, 'scripts', 'bench', `${name}.ts`), 'utf8'));
    expect(of('scoring')).toBe(
      "Scoring: mlo's Arrow → tensor → onnxruntime-node path against a bare session.run and Python onnxruntime, " +
        'same GBDT model and rows.',
    );
    expect(of('backfill')).toBe(
      "Feature backfill: mlo's per-partition path against one DuckDB window-function query, " +
        'same feature set, same data.',
    );
  });
});
