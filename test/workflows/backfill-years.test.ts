/**
 * A backfill of years: 1,100 daily partitions through continue-as-new on a real Temporal server.
 * The activities are mocked at their boundary (typed as the real ones, answering at once) so
 * the workflow's own mechanics are what is under test: every partition reaches the manifest
 * exactly once and in day order, the chain has several runs, no run's history nears Temporal's
 * limits, the carried input stays bounded, and the progress query (read the way the CLI reads
 * it: the latest run of the workflow id) stays right across the runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { temporal } from '@temporalio/proto';
import type { Activities } from '../../activities';
import type { ManifestInput, PartitionInput, PlanBackfillInput } from '../../activities/features';
import { readBackfillProgress } from '../../cli/commands/backfill';
import { addDays, daysBetween } from '../../lib/core/windows';
import { hashOf } from '../../lib/infra/hash';
import { featureSetFromSpec } from '../../lib/features/featureset';
import { parseSpec } from '../../lib/spec/model-spec';
import { featureBackfill, type BackfillProgress, type FeatureBackfillInput } from '../../workflows/featureBackfill';
import { createTestEnv, uniqueName } from '../helpers/temporal';
import { workflowBundle } from '../helpers/workflow-bundle';

const DAYS = 1_100;
const FROM = '2023-01-01';
/** The size above which Temporal warns of large blobs (its default payload limit is 2 MB). */
const BLOB_WARNING = 512 * 1024;

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundle;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  [env, bundle] = await Promise.all([createTestEnv(), workflowBundle()]);
}, 180_000);
afterAll(async () => {
  await env?.teardown();
});

const spec = `
name: years
owner: a@example.com
data:
  events: { prefix: raw/payments/ }
  labels: { prefix: raw/chargebacks/, key: payment_id, timestamp: reported_at, maturity: 5d }
features:
  columns: [amount]
  aggregations:
    - entity: card_id
      windows: [1h, 24h]
      metrics: [{ fn: count }, { fn: sum, of: amount }]
training:
  trainer: { command: [python, trainers/gbdt/train.py] }
  window: { days: 5 }
evaluation:
  holdout: { days: 2 }
promotion:
  reviewers: [r@example.com]
`;

/** Resolves when `ok` holds, checking every few milliseconds. */
async function until(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setTimeout(r, 5));
}

type Gate = { reached: boolean; seen: BackfillProgress[] };

function payloadBytes(payloads: temporal.api.common.v1.IPayload[] | null | undefined): number {
  let n = 0;
  for (const p of payloads ?? []) {
    n += p.data?.length ?? 0;
    for (const v of Object.values(p.metadata ?? {})) n += v.length;
  }
  return n;
}

describe('featureBackfill over years of daily partitions', () => {
  it('continues as new, hands every partition to the manifest once and in order, and its progress follows the chain', async () => {
    const range = { from: FROM, to: addDays(FROM, DAYS) };
    const days = daysBetween(range);
    expect(days).toHaveLength(DAYS);
    const computed = new Map<string, number>();
    const manifests: ManifestInput[] = [];
    // Gates hold one partition of the first run, one of the second, and the manifest until the
    // progress poller has read the query while they are in flight: samples from both runs and
    // one taken once every partition is done are then certain, however fast the mocks are.
    const gates = new Map<string, Gate>([
      [days[250]!, { reached: false, seen: [] }],
      [days[750]!, { reached: false, seen: [] }],
      ['manifest', { reached: false, seen: [] }],
    ]);
    const hold = async (key: string) => {
      const g = gates.get(key);
      if (!g) return;
      g.reached = true;
      await until(() => g.seen.length > 0);
    };
    const activities: Pick<Activities, 'planFeatureBackfill' | 'computeFeaturePartition' | 'writeFeatureManifest'> = {
      async planFeatureBackfill(input: PlanBackfillInput) {
        return {
          featureSetHash: hashOf(input.featureSet),
          days: daysBetween(input.range),
          outputPrefix: `features/years/${hashOf(input.featureSet)}/`,
        };
      },
      async computeFeaturePartition(input: PartitionInput) {
        computed.set(input.day, (computed.get(input.day) ?? 0) + 1);
        await hold(input.day);
        // Realistic magnitudes: tens of thousands of rows a day, a 16-hex partition hash.
        return {
          day: input.day,
          hash: hashOf({ day: input.day, fs: input.featureSetHash }),
          rows: 48_000 + days.indexOf(input.day),
          labeledRows: 47_000,
          positives: 1_234,
          reused: false,
        };
      },
      async writeFeatureManifest(input: ManifestInput) {
        manifests.push(input);
        await hold('manifest');
        return {
          manifestUri: `s3://mlo/${input.outputPrefix}manifest.json`,
          hash: hashOf(input.partitions),
          rows: input.partitions.reduce((a, p) => a + p.rows, 0),
          partitions: input.partitions.length,
          labeledRows: 0,
          positives: 0,
        };
      },
    };

    const q = { wf: uniqueName('wf'), cpu: uniqueName('cpu') };
    const [w0, w1] = await Promise.all([
      Worker.create({
        connection: env.nativeConnection,
        namespace: env.namespace,
        taskQueue: q.wf,
        workflowBundle: bundle,
      }),
      Worker.create({ connection: env.nativeConnection, namespace: env.namespace, taskQueue: q.cpu, activities }),
    ]);
    const workflowId = uniqueName('years');
    const args: FeatureBackfillInput = {
      model: 'years',
      featureSet: featureSetFromSpec(parseSpec(spec, '<test spec>')),
      range,
      labelCutoff: `${range.to}T00:00:00.000Z`,
      cpuQueue: q.cpu,
      concurrency: 16,
    };

    // The progress as the CLI reads it, polled while the chain runs.
    const samples: BackfillProgress[] = [];
    let finished = false;
    const poll = async () => {
      const ctx = { client: env.client, connection: env.connection };
      while (!finished) {
        const reached = [...gates.values()].filter((g) => g.reached && g.seen.length === 0);
        const p = await readBackfillProgress(ctx, workflowId);
        if (p) {
          samples.push(p);
          for (const g of reached) g.seen.push(p);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    const handle = await env.client.workflow.start(featureBackfill, { taskQueue: q.wf, workflowId, args: [args] });
    const polling = poll();
    const result = await w0.runUntil(w1.runUntil(handle.result().finally(() => (finished = true))));
    await polling;

    // Every partition computed once, and handed to one manifest once, in day order.
    expect(computed.size).toBe(DAYS);
    expect([...computed.values()].every((n) => n === 1)).toBe(true);
    expect(manifests).toHaveLength(1);
    expect(manifests[0]!.partitions.map((p) => p.day)).toEqual(days);
    expect(result.partitions).toBe(DAYS);

    // The chain of runs, followed from the first run's ContinuedAsNew events.
    const runs: { runId: string; events: temporal.api.history.v1.IHistoryEvent[] }[] = [];
    let runId: string | undefined = handle.firstExecutionRunId;
    while (runId) {
      const h: temporal.api.history.v1.IHistory = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
      const events: temporal.api.history.v1.IHistoryEvent[] = h.events ?? [];
      runs.push({ runId, events });
      runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    expect(runs.length).toBe(3);
    expect((await env.client.workflow.getHandle(workflowId).describe()).runId).toBe(runs.at(-1)!.runId);
    const completedIn = runs.map((r) => r.events.at(-1)?.eventType);
    expect(completedIn.slice(0, -1).every((t) => t === completedIn[0])).toBe(true);
    expect(runs.at(-1)!.events.at(-1)?.workflowExecutionCompletedEventAttributes).toBeTruthy();

    // No run's history nears the 10k-event limit.
    const maxEvents = Math.max(...runs.map((r) => r.events.length));
    expect(maxEvents).toBeLessThan(10_000);

    // The carried input: the largest run's start input, bounded; and the manifest's input.
    const inputs = runs.map((r) => payloadBytes(r.events[0]!.workflowExecutionStartedEventAttributes?.input?.payloads));
    const largestInput = Math.max(...inputs);
    // Run 2 carries the plan's days and 500 partitions done, run 3 the days and 1,000.
    const perPartition = (inputs[2]! - inputs[1]!) / 500;
    const perPlannedDay = (inputs[1]! - inputs[0]! - 500 * perPartition) / DAYS;
    const twentyYears = inputs[0]! + 20 * 366 * (perPlannedDay + perPartition);
    const manifestInput = Math.max(
      ...runs.flatMap((r) =>
        r.events
          .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'writeFeatureManifest')
          .map((e) => payloadBytes(e.activityTaskScheduledEventAttributes!.input?.payloads)),
      ),
    );
    expect(largestInput).toBeLessThan(BLOB_WARNING);
    expect(manifestInput).toBeLessThan(BLOB_WARNING);
    // Per partition carried: a packed result, so twenty years of days stay under the blob warning.
    expect(perPartition).toBeGreaterThan(0);
    expect(perPartition).toBeLessThan(64);
    expect(twentyYears).toBeLessThan(BLOB_WARNING);
    console.log(
      JSON.stringify({
        days: DAYS,
        runs: runs.length,
        eventsPerRun: runs.map((r) => r.events.length),
        maxEvents,
        largestCarriedInputBytes: largestInput,
        bytesPerCarriedPartition: Math.round(perPartition),
        bytesPerPlannedDay: Math.round(perPlannedDay),
        carriedInputBytesAt20Years: Math.round(twentyYears),
        manifestInputBytes: manifestInput,
        samples: samples.length,
      }),
    );

    // The progress across continue-as-new: total constant, done never going back, samples from
    // both sides of a continue-as-new, and the last one equal to the total.
    expect(samples.length).toBeGreaterThan(3);
    expect(samples.every((s) => s.total === DAYS && s.unit === 'partitions')).toBe(true);
    for (let i = 1; i < samples.length; i++) expect(samples[i]!.done).toBeGreaterThanOrEqual(samples[i - 1]!.done);
    const [first, second, manifest] = [...gates.values()].map((g) => g.seen[0]) as [
      BackfillProgress,
      BackfillProgress,
      BackfillProgress,
    ];
    expect(first.done).toBeGreaterThan(0);
    expect(first.done).toBeLessThan(500);
    expect(second.done).toBeGreaterThanOrEqual(500);
    expect(second.done).toBeLessThan(1_000);
    expect(manifest.done).toBe(DAYS);
    expect(samples.at(-1)!.done).toBe(DAYS);
  });
});

describe('featureBackfill carried state from runs before packing', () => {
  it('takes up a chain whose input carries `done` unpacked and finishes it with every partition in order', async () => {
    const range = { from: '2024-01-01', to: '2024-01-31' };
    const days = daysBetween(range);
    const result = (day: string) => ({ day, hash: hashOf(day), rows: 10, labeledRows: 9, positives: 1, reused: true });
    const computed: string[] = [];
    const manifests: ManifestInput[] = [];
    const activities: Pick<Activities, 'planFeatureBackfill' | 'computeFeaturePartition' | 'writeFeatureManifest'> = {
      async planFeatureBackfill() {
        throw new Error('a carried plan is not planned again');
      },
      async computeFeaturePartition(input: PartitionInput) {
        computed.push(input.day);
        return { ...result(input.day), reused: false };
      },
      async writeFeatureManifest(input: ManifestInput) {
        manifests.push(input);
        return {
          manifestUri: 's3://mlo/m.json',
          hash: 'h',
          rows: 0,
          partitions: input.partitions.length,
          labeledRows: 0,
          positives: 0,
        };
      },
    };
    const q = { wf: uniqueName('wf'), cpu: uniqueName('cpu') };
    const [w0, w1] = await Promise.all([
      Worker.create({
        connection: env.nativeConnection,
        namespace: env.namespace,
        taskQueue: q.wf,
        workflowBundle: bundle,
      }),
      Worker.create({ connection: env.nativeConnection, namespace: env.namespace, taskQueue: q.cpu, activities }),
    ]);
    // Done out of day order, as a bounded fan-out completes them.
    const doneBefore = days.slice(0, 20).reverse().map(result);
    const args: FeatureBackfillInput = {
      model: 'years',
      featureSet: featureSetFromSpec(parseSpec(spec, '<test spec>')),
      range,
      labelCutoff: `${range.to}T00:00:00.000Z`,
      cpuQueue: q.cpu,
      carried: { featureSetHash: 'fs', outputPrefix: 'features/years/fs/', days, done: doneBefore },
    };
    const run = env.client.workflow.execute(featureBackfill, {
      taskQueue: q.wf,
      workflowId: uniqueName('carried'),
      args: [args],
    });
    const r = await w0.runUntil(w1.runUntil(run));
    expect(r.partitions).toBe(30);
    expect(computed.sort()).toEqual(days.slice(20));
    expect(manifests[0]!.partitions.map((p) => p.day)).toEqual(days);
    expect(manifests[0]!.partitions.slice(0, 20).every((p) => p.reused && p.hash === hashOf(p.day))).toBe(true);
  });
});
