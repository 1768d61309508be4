/**
 * Model specs deployed for a test: real spec files in a directory of the test's own, which the
 * test's workers read as their deployed specs (`modelsDir` of the activity deps, or
 * `MLO_MODELS_DIR` of a worker process). Each is the project's fraud-baseline spec under another
 * name, with the promotion section and trainer the test asks for.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TrialInput } from '../../activities/training';
import { runWindows } from '../../lib/core/windows';
import { loadSpecFile, MODELS_DIR, specHash, type ModelSpec } from '../../lib/spec/model-spec';

export type SpecOptions = {
  reviewers?: string[];
  deadline?: string;
  whenBusy?: 'queue' | 'refuse';
  /** The trainer command and pool (default: the baseline's). */
  trainer?: { command: string[]; pool?: 'cpu' | 'gpu' };
};

/** A fresh directory of deployed specs (removed with `fs.rmSync(dir, { recursive: true })`). */
export function deployedSpecsDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-deployed-specs-'));
}

/** The YAML text of the baseline spec under `name` with the given options. */
export function specText(name: string, opts: SpecOptions = {}): string {
  let text = fs.readFileSync(path.join(MODELS_DIR, 'fraud-baseline.yaml'), 'utf8');
  text = text.replace(/^name: fraud-baseline$/m, `name: ${name}`).replace(/^schedule: .*$/m, '');
  const promotion = [
    'promotion:',
    `  reviewers: [${(opts.reviewers ?? ['alice@example.com', 'carol@example.com']).join(', ')}]`,
    `  deadline: ${opts.deadline ?? '48h'}`,
    `  when_busy: ${opts.whenBusy ?? 'queue'}`,
  ].join('\n');
  text = text.replace(/^promotion:\n(?: {2}.*\n?)+/m, `${promotion}\n`);
  if (opts.trainer) {
    const command = `[${opts.trainer.command.map((c) => JSON.stringify(c)).join(', ')}]`;
    text = text.replace(
      /^ {2}trainer: .*$/m,
      `  trainer: { command: ${command}, pool: ${opts.trainer.pool ?? 'cpu'} }`,
    );
  }
  return text;
}

/** Writes `<dir>/<name>.yaml` and returns the spec as validated, with its hash. */
export function deploySpec(
  dir: string,
  name: string,
  opts: SpecOptions = {},
): { file: string; spec: ModelSpec; specHash: string } {
  const file = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(file, specText(name, opts));
  const spec = loadSpecFile(file);
  return { file, spec, specHash: specHash(spec) };
}

/**
 * A trainTrial input of a deployed spec, as the workflow would send it, over a snapshot that names
 * no data (the tests' trainers read only their input): trial 0, no params, requested by a dev user.
 */
export function trialInput(spec: ModelSpec, specHash: string, workflowId: string, bucket: string): TrialInput {
  return {
    model: spec.name,
    spec,
    specHash,
    windows: runWindows({ asOf: '2025-01-08', spec }, new Date()),
    workflowId,
    snapshot: {
      manifestUri: `s3://${bucket}/features/none/manifest.json`,
      hash: 'none',
      rows: 0,
      partitions: 0,
      labeledRows: 0,
      positives: 0,
    },
    featureColumns: ['amount'],
    trialIndex: 0,
    params: {},
    requestedBy: 'dana@example.com',
  };
}
