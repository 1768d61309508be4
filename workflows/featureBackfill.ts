import { continueAsNew, defineQuery, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities, FeatureSnapshotRef } from '../activities';
import type { PartitionResult } from '../activities/features';
import type { FeatureSet } from '../lib/features/featureset';
import type { DayRange } from '../lib/core/windows';
import { mapBounded } from '../lib/core/concurrency';
import * as profiles from './activity-options';

export type FeatureBackfillInput = {
  model: string;
  featureSet: FeatureSet;
  range: DayRange;
  labelCutoff: string;
  cpuQueue: string;
  /** Partitions computed at once (bounded fan-out on the CPU pool). */
  concurrency?: number;
  /**
   * Carried across continue-as-new: the plan and the partitions done so far, as `packed`
   * (compact, about a third of the bytes) or, from runs that predate it, as `done`.
   */
  carried?: {
    featureSetHash: string;
    outputPrefix: string;
    days: string[];
    warmupDays?: string[];
    done?: PartitionResult[];
    packed?: PackedPartition[];
  };
};

/** A PartitionResult without its keys: [index in days, hash, rows, labeledRows, positives, reused 0|1]. */
export type PackedPartition = [number, string, number, number, number, 0 | 1];

/**
 * Carrying partitions packed: a backfill of years continues as new with ~45 bytes per partition
 * done instead of ~125, so decades of days stay far below Temporal's payload limits.
 */
export const PACKED_CARRY_PATCH = 'feature-backfill-packed-carry';

function pack(days: string[], done: PartitionResult[]): PackedPartition[] {
  const index = new Map(days.map((d, i) => [d, i]));
  return done.map((p) => [index.get(p.day)!, p.hash, p.rows, p.labeledRows, p.positives, p.reused ? 1 : 0]);
}

function unpack(days: string[], packed: PackedPartition[]): PartitionResult[] {
  return packed.map(([i, hash, rows, labeledRows, positives, reused]) => ({
    day: days[i]!,
    hash,
    rows,
    labeledRows,
    positives,
    reused: reused === 1,
  }));
}

export type BackfillProgress = { done: number; total: number; reused: number; unit: 'partitions' };

export const backfillProgressQuery = defineQuery<BackfillProgress>('backfillProgress');

/** Partitions per run before continuing as new: keeps the history far below 10k events. */
const PARTITIONS_PER_RUN = 500;

/**
 * featureBackfill: one activity per day partition on the CPU pool, a bounded number in
 * flight, continue-as-new every PARTITIONS_PER_RUN partitions, then the manifest. Payloads
 * carry a compact result per partition, never data.
 */
export async function featureBackfill(input: FeatureBackfillInput): Promise<FeatureSnapshotRef> {
  const acts = proxyActivities<Activities>(profiles.partition(input.cpuQueue));
  const carried = input.carried;
  const plan = carried
    ? {
        featureSetHash: carried.featureSetHash,
        outputPrefix: carried.outputPrefix,
        days: carried.days,
        ...(carried.warmupDays ? { warmupDays: carried.warmupDays } : {}),
      }
    : await acts.planFeatureBackfill({
        featureSet: input.featureSet,
        range: input.range,
        labelCutoff: input.labelCutoff,
      });
  const done: PartitionResult[] = [...(carried?.done ?? []), ...unpack(plan.days, carried?.packed ?? [])];
  const doneDays = new Set(done.map((p) => p.day));
  const todo = plan.days.filter((d) => !doneDays.has(d));
  setHandler(backfillProgressQuery, () => ({
    done: done.length,
    total: plan.days.length,
    reused: done.filter((p) => p.reused).length,
    unit: 'partitions',
  }));

  const thisRun = todo.slice(0, PARTITIONS_PER_RUN);
  const compute = (day: string) =>
    acts.computeFeaturePartition({
      featureSet: input.featureSet,
      featureSetHash: plan.featureSetHash,
      day,
      labelCutoff: input.labelCutoff,
      outputPrefix: plan.outputPrefix,
    });
  await mapBounded(thisRun, Math.max(1, input.concurrency ?? 8), compute, done);

  if (todo.length > thisRun.length) {
    const next = patched(PACKED_CARRY_PATCH) ? { ...plan, packed: pack(plan.days, done) } : { ...plan, done };
    await continueAsNew<typeof featureBackfill>({ ...input, carried: next });
  }
  const order = new Map(plan.days.map((d, i) => [d, i]));
  done.sort((a, b) => (order.get(a.day) ?? 0) - (order.get(b.day) ?? 0));
  return acts.writeFeatureManifest({
    model: input.model,
    featureSet: input.featureSet,
    featureSetHash: plan.featureSetHash,
    range: input.range,
    labelCutoff: input.labelCutoff,
    outputPrefix: plan.outputPrefix,
    partitions: done,
    // Only when the plan has some: the activity's input stays as it was for every other snapshot.
    ...(plan.warmupDays?.length ? { warmupDays: plan.warmupDays } : {}),
  });
}
