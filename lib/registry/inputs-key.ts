/**
 * A candidate's inputs key: the hash of everything its training reads. Two runs with the same key
 * train the same model (trainers are seeded and read only the snapshot), so the second reuses the
 * first's registered version instead of training and registering a copy (`mlo.inputs_key`).
 *
 * Included: the feature snapshot's content hash (features and labels of every partition), the
 * training and validation windows and the label cut-off, the feature columns in order, the
 * trainer's command and pool, its parameters, sweep and seed, and mlo's code version. Not
 * included: reviewers, gates, the deadline, the schedule — they decide what happens to a
 * candidate, not what it is.
 */
import type { RunWindows } from '../core/windows';
import { hashOf } from '../infra/hash';
import type { ModelSpec } from '../spec/model-spec';

export type CandidateInputs = {
  snapshotHash: string;
  windows: Pick<RunWindows, 'train' | 'validation' | 'labelCutoff'>;
  featureColumns: string[];
  training: ModelSpec['training'];
  codeVersion: string;
};

export function candidateInputsKey(x: CandidateInputs): string {
  const t = x.training;
  return hashOf(
    {
      v: 1,
      snapshot: x.snapshotHash,
      train: x.windows.train,
      validation: x.windows.validation,
      labelCutoff: x.windows.labelCutoff,
      features: x.featureColumns,
      trainer: { command: t.trainer.command, pool: t.trainer.pool },
      params: t.params,
      sweep: t.sweep ?? null,
      seed: t.seed,
      code: x.codeVersion,
    },
    32,
  );
}
