import { describe, expect, it } from 'vitest';
import type { ScheduleDescription } from '@temporalio/client';
import { loadConfig } from '../../lib/infra/config';
import {
  changedPaths,
  desiredSchedule,
  diffSettings,
  existingFromDescription,
  MEMO_KEY,
  planSync,
  scheduleOptions,
  type DesiredSchedule,
  type ExistingSchedule,
} from '../../lib/client/schedules';
import { findModelSpec, type ModelSpec } from '../../lib/spec/model-spec';
import { renderPlan } from '../../cli/commands/schedules';
import { retrainScheduleId } from '../../lib/core/ids';

const cfg = loadConfig({ MLO_QUEUE_ORCHESTRATOR: 'orch', MLO_QUEUE_CPU: 'cpu', MLO_QUEUE_GPU: 'gpu' });
const detector = findModelSpec('fraud-detector').spec;
const baseline = findModelSpec('fraud-baseline').spec;

function desired(spec: ModelSpec): DesiredSchedule {
  const d = desiredSchedule(cfg, spec, `models/${spec.name}.yaml`);
  if (!d) throw new Error('no schedule');
  return d;
}

/** What describe() returns for a schedule that sync made from `d` (only the fields sync reads). */
function existing(d: DesiredSchedule, opts: { paused?: boolean; memo?: boolean } = {}): ExistingSchedule {
  const o = scheduleOptions(cfg, d);
  const description = {
    scheduleId: d.scheduleId,
    action: { ...o.action, workflowType: 'trainAndPromote', memo: opts.memo === false ? undefined : o.action.memo },
    memo: opts.memo === false ? undefined : o.memo,
    state: { paused: opts.paused ?? d.settings.paused },
  } as unknown as ScheduleDescription;
  return existingFromDescription(description);
}

describe('the schedule of a spec', () => {
  it('maps cron, timezone, jitter, catchup window and overlap, and starts trainAndPromote without an as-of day', () => {
    const d = desired(detector);
    const o = scheduleOptions(cfg, d);
    expect(o.scheduleId).toBe('mlo-retrain/fraud-detector');
    expect(o.spec).toEqual({ cronExpressions: ['0 3 * * *'], timezone: 'UTC', jitter: 600_000 });
    expect(o.policies).toEqual({ overlap: 'SKIP', catchupWindow: 86_400_000 });
    expect(o.state).toMatchObject({ paused: false });
    expect(o.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'trainAndPromote',
      taskQueue: 'orch',
      workflowId: 'train-and-promote/fraud-detector/scheduled',
    });
    const input = o.action.args?.[0];
    expect(input).toMatchObject({
      model: 'fraud-detector',
      requestedBy: 'mlo-scheduler',
      queues: { cpu: 'cpu', gpu: 'gpu' },
      specHash: d.specHash,
    });
    expect(input && 'asOf' in input ? input.asOf : undefined).toBeUndefined();
    // The run takes its spec, reviewers and deadline from the workers' deployed spec, not from here.
    const sent = Object.entries(input ?? {}).filter(([, v]) => v !== undefined);
    expect(sent.map(([k]) => k).sort()).toEqual(['model', 'queues', 'requestedBy', 'specHash']);
    expect(o.memo?.[MEMO_KEY]).toMatchObject({
      model: 'fraud-detector',
      specHash: d.specHash,
      settingsHash: d.settingsHash,
      file: 'models/fraud-detector.yaml',
    });
    expect(o.action.memo).toEqual(o.memo);
  });

  it('maps an interval; a spec without a schedule has none', () => {
    expect(scheduleOptions(cfg, desired(baseline)).spec).toEqual({
      intervals: [{ every: 86_400_000 }],
      timezone: 'UTC',
    });
    expect(desiredSchedule(cfg, { ...baseline, schedule: undefined }, 'x.yaml')).toBeUndefined();
  });

  it('hashes the settings, including the queues the runs go to', () => {
    const other = desiredSchedule(
      loadConfig({ MLO_QUEUE_ORCHESTRATOR: 'elsewhere' }),
      detector,
      'models/fraud-detector.yaml',
    );
    expect(other?.settingsHash).not.toBe(desired(detector).settingsHash);
    expect(other?.specHash).toBe(desired(detector).specHash);
  });
});

describe('planSync', () => {
  it('creates what is missing and leaves what matches unchanged', () => {
    const a = desired(detector);
    const b = desired(baseline);
    const plan = planSync([a, b], [existing(b)]);
    expect(plan.map((e) => [e.model, e.action])).toEqual([
      ['fraud-baseline', 'unchanged'],
      ['fraud-detector', 'create'],
    ]);
    expect(plan[1]?.changes).toEqual(['cron "0 3 * * *" UTC, jitter 10m, catchup 1d, overlap skip, queue orch']);
  });

  it('updates with what changed: settings field by field, and the spec sections', () => {
    const before = desired(detector);
    const spec2: ModelSpec = {
      ...detector,
      schedule: { ...detector.schedule!, cron: '0 4 * * *' },
      training: { ...detector.training, params: { ...detector.training.params, rounds: 300 } },
    };
    const plan = planSync([desired(spec2)], [existing(before)]);
    expect(plan).toHaveLength(1);
    expect(plan[0]?.action).toBe('update');
    expect(plan[0]?.changes).toEqual(['cron: "0 3 * * *" → "0 4 * * *"', 'spec: training.params']);
  });

  it('deletes mlo-retrain schedules without a spec, and touches no other ids', () => {
    const gone = existing(desired(baseline));
    const foreign = { ...existing(desired(detector)), scheduleId: 'someone-else/x' };
    const plan = planSync([], [gone, foreign]);
    expect(plan.map((e) => [e.scheduleId, e.action])).toEqual([['mlo-retrain/fraud-baseline', 'delete']]);
  });

  it('replaces a schedule that sync did not make (no memo)', () => {
    const d = desired(detector);
    const plan = planSync([d], [existing(d, { memo: false })]);
    expect(plan[0]).toMatchObject({
      action: 'update',
      changes: [expect.stringContaining('no memo') as unknown, expect.any(String) as unknown],
    });
  });

  it('renders the plan: one line per model and one per change; a dry run says nothing changed', () => {
    const before = desired(detector);
    const spec2: ModelSpec = { ...detector, schedule: { ...detector.schedule!, paused: true } };
    const lines = renderPlan(planSync([desired(spec2)], [existing(before)]), true);
    expect(lines).toEqual([
      'ACTION  MODEL           SCHEDULE',
      `update  fraud-detector  ${retrainScheduleId('fraud-detector')}`,
      '    paused: false → true',
      'dry run, nothing changed: would create 0, update 1, delete 0; 0 unchanged',
    ]);
  });
});

describe('changedPaths', () => {
  it('lists differing paths two levels deep', () => {
    expect(changedPaths({ a: { x: 1, y: 2 }, b: 1 }, { a: { x: 1, y: 3 }, b: 1, c: 2 })).toEqual(['a.y', 'c']);
    expect(changedPaths({ a: [1] }, { a: [1] })).toEqual([]);
    expect(diffSettings({ cron: null }, { ...desired(baseline).settings })).toContain('interval: (none) → "24h"');
  });
});
