import { describe, expect, it } from 'vitest';
import {
  failedGatesReason,
  filterRows,
  fleetMarkdown,
  fleetRows,
  isFailing,
  runOutcome,
  type FleetData,
  type RunExecution,
} from '../../lib/client/fleet';

const NOW = new Date('2026-03-20T12:00:00.000Z');
const DAY = 86_400_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();

function run(model: string, over: Partial<RunExecution>): RunExecution {
  return {
    workflowId: `train-and-promote/${model}/2026-03-01`,
    runId: `r-${model}-${over.startedAt ?? ''}`,
    model,
    status: 'COMPLETED',
    stage: 'promoted',
    candidateVersion: '1',
    startedAt: ago(10 * DAY),
    closedAt: ago(10 * DAY - 3_600_000),
    ...over,
  };
}

/** A fleet of four: healthy, failing (newest run failed after an older success), pending, and unmanaged. */
function fixture(): FleetData {
  return {
    specs: [
      { name: 'healthy', promotionDeadline: '72h' },
      { name: 'failing', promotionDeadline: '72h' },
      { name: 'pending', promotionDeadline: '24h' },
    ],
    runs: [
      run('healthy', { startedAt: ago(2 * DAY), closedAt: ago(2 * DAY - 60_000), runId: 'h2' }),
      run('healthy', {
        startedAt: ago(9 * DAY),
        closedAt: ago(9 * DAY),
        runId: 'h1',
        status: 'FAILED',
        stage: 'training',
      }),
      run('failing', { startedAt: ago(20 * DAY), closedAt: ago(20 * DAY), runId: 'f1' }),
      run('failing', {
        startedAt: ago(1 * DAY),
        closedAt: ago(1 * DAY),
        runId: 'f2',
        status: 'FAILED',
        stage: 'training',
      }),
      run('pending', {
        startedAt: ago(3_600_000),
        closedAt: null,
        runId: 'p1',
        status: 'RUNNING',
        stage: 'awaiting-approval',
      }),
      run('gated', { startedAt: ago(DAY), closedAt: ago(DAY), runId: 'g1', stage: 'gate-failed' }),
    ],
    pending: [
      {
        kind: 'promotion',
        workflowId: 'promotion/pending',
        model: 'pending',
        stage: 'awaiting-approval',
        candidateVersion: '4',
        requestedBy: 'erin@example.com',
        startedAt: ago(30 * 3_600_000),
      },
    ],
    schedules: [
      { model: 'healthy', scheduleId: 'mlo-retrain/healthy', paused: false, nextRunAt: '2026-03-21T03:00:00.000Z' },
      { model: 'failing', scheduleId: 'mlo-retrain/failing', paused: true, nextRunAt: '2026-03-21T03:00:00.000Z' },
    ],
    registry: [
      { name: 'healthy', championVersion: '7', lastMove: { champion: '7', by: 'someone-else', at: ago(DAY) } },
      {
        name: 'failing',
        championVersion: '2',
        lastMove: { champion: '2', by: 'alice@example.com', at: ago(40 * DAY) },
      },
      { name: 'unmanaged', championVersion: null, lastMove: null },
      { name: 'pending', championVersion: null, lastMove: null },
    ],
    promoted: [
      { model: 'healthy', version: '6', approvedBy: 'bob@example.com', promotedAt: ago(30 * DAY) },
      { model: 'healthy', version: '7', approvedBy: 'carol@example.com', promotedAt: ago(2 * DAY) },
    ],
    failures: { 'train-and-promote/failing/2026-03-01/f2': 'trainer exited 3: out of memory' },
  };
}

describe('fleet: run outcomes', () => {
  it('maps status and last stage to an outcome; failures and gate failures are failing', () => {
    expect(runOutcome({ status: 'RUNNING', stage: 'training' })).toBe('running');
    expect(runOutcome({ status: 'COMPLETED', stage: 'gate-failed' })).toBe('gate-failed');
    expect(runOutcome({ status: 'COMPLETED', stage: 'rejected' })).toBe('rejected');
    expect(runOutcome({ status: 'COMPLETED', stage: null })).toBe('completed');
    expect(runOutcome({ status: 'TERMINATED', stage: 'training' })).toBe('terminated');
    expect(runOutcome({ status: 'FAILED', stage: 'evaluation' })).toBe('failed');
    expect(
      ['failed', 'terminated', 'timed-out', 'gate-failed', 'data-gate-failed'].every((o) => isFailing(o as never)),
    ).toBe(true);
    expect(isFailing('rejected')).toBe(false);
    expect(isFailing('running')).toBe(false);
  });
});

describe('fleet: failed gates', () => {
  it("a gate-failed run's reason is its version's failed gates, in the CLI's words; anything else is no reason", () => {
    const tag = JSON.stringify([
      { stage: 'evaluation', gate: 'auc >= 0.80', value: 0.7712, note: '' },
      { stage: 'shadow', gate: 'psi <= 0.2', value: null, note: 'no traffic' },
    ]);
    expect(failedGatesReason(tag)).toBe(
      'evaluation: auc >= 0.80 — value 0.7712; shadow: psi <= 0.2 — no value (no traffic)',
    );
    expect(failedGatesReason('[]')).toBeUndefined();
    expect(failedGatesReason('not json')).toBeUndefined();
    expect(failedGatesReason(undefined)).toBeUndefined();
  });
});

describe('fleet: joining', () => {
  const rows = fleetRows(fixture(), NOW);
  const row = (m: string) => rows.find((r) => r.model === m);

  it('one row per spec and per model with runs, sorted; registered models without champion or runs are left out', () => {
    expect(rows.map((r) => r.model)).toEqual(['failing', 'gated', 'healthy', 'pending']);
    expect(row('gated')?.hasSpec).toBe(false);
  });

  it("the champion's approver and age come from its version's tags, else from the model's last alias move", () => {
    expect(row('healthy')?.champion).toEqual({
      version: '7',
      approvedBy: 'carol@example.com',
      promotedAt: ago(2 * DAY),
      ageMs: 2 * DAY,
    });
    expect(row('failing')?.champion).toMatchObject({ version: '2', approvedBy: 'alice@example.com', ageMs: 40 * DAY });
    expect(row('pending')?.champion).toBeNull();
  });

  it('the last run is the newest; a failing one carries its failure, else its stage', () => {
    expect(row('healthy')?.lastRun).toMatchObject({ runId: 'h2', outcome: 'promoted', reason: null });
    expect(row('failing')?.lastRun).toMatchObject({
      runId: 'f2',
      outcome: 'failed',
      reason: 'trainer exited 3: out of memory',
    });
    expect(row('gated')?.lastRun).toMatchObject({ outcome: 'gate-failed', reason: 'at gate-failed' });
    expect(row('failing')?.lastSuccessAt).toBe(ago(20 * DAY));
  });

  it('next run from the schedule (none while paused); the pending approval with its age and deadline', () => {
    expect(row('healthy')?.nextRunAt).toBe('2026-03-21T03:00:00.000Z');
    expect(row('failing')).toMatchObject({ nextRunAt: null, schedulePaused: true });
    expect(row('gated')?.schedulePaused).toBeNull();
    expect(row('pending')?.pendingApproval).toEqual({
      kind: 'promotion',
      workflowId: 'promotion/pending',
      candidateVersion: '4',
      requestedBy: 'erin@example.com',
      startedAt: ago(30 * 3_600_000),
      ageMs: 30 * 3_600_000,
      deadline: ago(6 * 3_600_000),
    });
  });
});

describe('fleet: pending rollbacks', () => {
  it('a reviewed rollback awaiting approval is pending too, shown as such', () => {
    const data = fixture();
    data.pending.push({
      kind: 'rollback',
      workflowId: 'rollback/failing',
      model: 'failing',
      stage: 'rollback-awaiting-approval',
      candidateVersion: '1',
      requestedBy: 'alice@example.com',
      startedAt: ago(2 * 3_600_000),
    });
    const rows = fleetRows(data, NOW);
    expect(filterRows(rows, { pending: true }, NOW).map((r) => r.model)).toEqual(['failing', 'pending']);
    const md = fleetMarkdown(rows, NOW);
    // the spec's promotion.deadline (72h) from the rollback's start
    expect(md).toContain('rollback to v1 for 2h 0m, due 2026-03-23 10:00Z |');
  });
});

describe('fleet: filters', () => {
  const rows = fleetRows(fixture(), NOW);
  const names = (f: Parameters<typeof filterRows>[1]) => filterRows(rows, f, NOW).map((r) => r.model);

  it('--failing: the last run failed or failed a gate (an older failure does not count)', () => {
    expect(names({ failing: true })).toEqual(['failing', 'gated']);
  });
  it('--pending: awaiting approval', () => {
    expect(names({ pending: true })).toEqual(['pending']);
  });
  it('--stale: no champion promoted, or no successful run, within the duration', () => {
    expect(names({ staleMs: 3 * DAY })).toEqual(['failing', 'gated', 'pending']);
    expect(names({ staleMs: 50 * DAY })).toEqual(['gated', 'pending']);
    expect(names({ staleMs: DAY })).toEqual(['failing', 'gated', 'healthy', 'pending']);
  });
  it('filters combine', () => {
    expect(names({ failing: true, staleMs: 50 * DAY })).toEqual(['gated']);
    expect(names({})).toEqual(['failing', 'gated', 'healthy', 'pending']);
  });
});

describe('fleet: markdown', () => {
  it('a heading, a summary and one table row per model; pipes in cells are escaped', () => {
    const data = fixture();
    data.failures['train-and-promote/failing/2026-03-01/f2'] = 'a | b';
    const md = fleetMarkdown(fleetRows(data, NOW), NOW, ['failing']);
    const lines = md.split('\n');
    expect(lines[0]).toBe('## Model fleet — 2026-03-20 12:00 UTC');
    expect(md).toContain('Filters: failing');
    expect(md).toContain('4 models: 2 failing, 1 awaiting approval, 2 without a champion.');
    const tableRows = lines.filter((l) => l.startsWith('| '));
    expect(tableRows).toHaveLength(6); // header, separator, 4 models
    expect(tableRows[1]).toMatch(/^\| --- \|( --- \|){8}$/);
    expect(tableRows[0]).toBe('| MODEL | CHAMPION | AGE | APPROVED BY | LAST RUN | AT | REASON | NEXT RUN | PENDING |');
    const failing = tableRows.find((l) => l.startsWith('| failing '));
    expect(failing).toContain('| v2 | 40d 0h | alice@example.com | failed |');
    expect(failing).toContain('a \\| b');
    expect(failing).toContain('| paused |');
    expect(tableRows.find((l) => l.startsWith('| pending '))).toContain('v4 for 1d 6h, due 2026-03-20 06:00Z (past)');
    expect(tableRows.find((l) => l.startsWith('| gated '))).toContain('gated (no spec)');
  });
  it('an empty selection says so', () => {
    expect(fleetMarkdown([], NOW)).toContain('_No model matches._');
  });
});
