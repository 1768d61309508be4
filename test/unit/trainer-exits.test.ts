/**
 * A trainer's exit, end to end on real processes: small Python trainers built on the trainers'
 * shared frame (trainers/common) fail in each documented way, and the training activity's process
 * runner and judgement (`runTrainerProcess`, `judgeTrainerRun`, `toActivityFailure`) turn each into
 * what the workflow sees. Deterministic failures and contract violations are final; crashes retry.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { judgeTrainerRun } from '../../activities/training';
import { FailureType } from '../../lib/core/failure-types';
import { toActivityFailure } from '../../lib/core/failures';
import { TRAINER_CONTRACT, type TrainerInput, type TrainerResult } from '../../lib/trainer/contract';
import { runTrainerProcess } from '../../lib/trainer/process';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-trainer-exits-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const input: TrainerInput = {
  contract: TRAINER_CONTRACT,
  manifestUri: 's3://mlo/tmp/unused/manifest.json',
  featureColumns: ['x'],
  labelColumn: 'label',
  train: { from: '2026-01-01', to: '2026-01-02' },
  validation: { from: '2026-01-02', to: '2026-01-03' },
  params: { rounds: 200 },
  seed: 1,
  outputPrefix: 's3://mlo/tmp/unused/out/',
  checkpointPrefix: 's3://mlo/tmp/unused/ckpt/',
  resume: null,
  device: 'cpu',
};

/** The trainers' frame (`common.runner.run`) around `body`, the trainer's main(inp). */
const framed = (body: string) =>
  [
    'import sys; sys.path.insert(0, "trainers")',
    'import numpy as np',
    'from common.runner import run',
    'def main(inp):',
    ...body.split('\n').map((l) => `    ${l}`),
    'run("probe", main)',
  ].join('\n');

/** The real fidelity check (`common.model.check_onnx`) on a real ONNX export that does not match. */
const EXPORT_MISMATCH = framed(`from sklearn.linear_model import LogisticRegression
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from common.model import check_onnx, convert_to_onnx
X = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
m = LogisticRegression().fit(X, [0, 0, 1, 1])
onnx = convert_to_onnx(convert_sklearn, m, FloatTensorType, 1, options={LogisticRegression: {"zipmap": False}})
check_onnx(onnx, X, m.predict_proba(X)[:, 1] + 1e-3, 1e-5, "the probe's probabilities", inp.params)`);

const RESULT_LINE = JSON.stringify({
  type: 'result',
  onnxUri: 's3://mlo/tmp/unused/out/model.onnx',
  metrics: { valid_auc: 0.9, valid_logloss: 0.3 },
  inputSchema: { name: 'features', dtype: 'float32', columns: ['x'] },
  outputs: { probability: 'probabilities', probabilityIndex: 1 },
});

/** Runs `code` as the trainer command `python -c <code>` the way the training activity runs a trainer. */
async function judge(name: string, code: string) {
  const inputFile = path.join(tmp, `${name}.json`);
  fs.writeFileSync(inputFile, JSON.stringify(input));
  const command = ['python', '-c', code];
  let result: TrainerResult | undefined;
  const cancellation = new AbortController().signal;
  const run = await runTrainerProcess({
    command,
    inputFile,
    env: { PATH: process.env.PATH },
    signal: cancellation,
    onLine: (l) => {
      if (l.type === 'result') result = l;
    },
  });
  const verdict = judgeTrainerRun(run, result, { command, featureColumns: ['x'], cancellation });
  if (!('error' in verdict)) throw new Error(`${name}: expected a failure, got ${JSON.stringify(verdict)}`);
  return { run, verdict, failure: toActivityFailure(verdict.error) as Error & { type?: string } };
}

describe('trainer exits, on real processes', () => {
  it('an ONNX export that fails the fidelity check exits 3 and fails the trial for good, saying what to change', async () => {
    const { run, verdict, failure } = await judge('mismatch', EXPORT_MISMATCH);
    expect(run.exitCode).toBe(3);
    expect(verdict).toMatchObject({ endAs: 'FAILED' });
    expect(failure).toMatchObject({ type: FailureType.BadInput, nonRetryable: true });
    expect(failure.message).toMatch(/failed deterministically \(exit 3; not retried/);
    expect(failure.message).toMatch(
      /mlo-trainer: deterministic failure: the ONNX export does not reproduce the probe's probabilities on the validation rows: max \|diff\| 0\.001 > 1e-05/,
    );
    expect(failure.message).toMatch(
      /change the model spec's training\.params \(now \{"rounds": 200\}\) or training\.seed/,
    );
  }, 60_000);

  it('contract violations are final: a line that is not JSON, exit 0 without a result line', async () => {
    const cases: [string, string, RegExp][] = [
      ['noise', `print("loading…"); print(${JSON.stringify(RESULT_LINE)})`, /printed lines outside the contract/],
      ['no-result', 'import sys; sys.exit(0)', /exited 0 without a result line/],
    ];
    for (const [name, code, message] of cases) {
      const { run, verdict, failure } = await judge(name, code);
      expect(run.exitCode).toBe(0);
      expect(verdict).toMatchObject({ endAs: 'FAILED' });
      expect(failure).toMatchObject({ type: FailureType.BadInput, nonRetryable: true });
      expect(failure.message).toMatch(message);
    }
  }, 60_000);

  it('a crash (an uncaught exception) stays retryable and leaves the run open', async () => {
    const { run, verdict, failure } = await judge('crash', framed('raise RuntimeError("out of luck")'));
    expect(run.exitCode).toBe(1);
    expect(verdict).not.toHaveProperty('endAs');
    expect(failure).toMatchObject({ type: FailureType.TrainerCrashed, nonRetryable: false });
    expect(failure.message).toMatch(/mlo-trainer: crash: RuntimeError: out of luck/);
  }, 60_000);
});
