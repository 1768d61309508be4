/**
 * Replays the stored histories of real runs (test/fixtures/histories/<release>/, every release's)
 * against today's workflow code. A change that would break a running promotion (or any stored
 * run) is nondeterministic here and fails CI; such a change must go through `patched()`. Stored
 * histories are never rewritten: `npm run record-fixtures` adds a release's directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HISTORIES_DIR, storedHistoryFiles } from '../../scripts/stored-histories';
import { runTs } from '../helpers/spawn';

type Report = { replayed: number; failures: { label: string; workflowId: string; error: string }[] };

const files = storedHistoryFiles();

/** The workflow type a stored history ran (its first event's). */
function workflowTypeOf(file: string): string | undefined {
  const history = JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8')) as {
    events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[];
  };
  return history.events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
}

async function replayStored(args: string[] = []): Promise<{ code: number | null; report: Report }> {
  const r = await runTs('scripts/replay.ts', ['--json', ...args]);
  const last = r.output.trim().split('\n').at(-1) ?? '';
  return { code: r.code, report: JSON.parse(last) as Report };
}

describe('stored histories replay against the current workflow code', () => {
  it('has stored histories of promotions, rollbacks and full runs, each under a release', () => {
    const names = files.join(' ');
    expect(names).toMatch(/promotion-approved/);
    expect(names).toMatch(/promotion-rejected/);
    expect(names).toMatch(/promotion-expired/);
    expect(names).toMatch(/rollback/);
    expect(names).toMatch(/train-and-promote/);
    for (const f of files) expect(f).toMatch(/^[A-Za-z0-9][A-Za-z0-9._+-]*\/[^/]+\.json$/);
  });

  it('every stored history replays without nondeterminism', async () => {
    const { code, report } = await replayStored();
    expect(report.failures).toEqual([]);
    expect(report.replayed).toBe(files.length);
    expect(code).toBe(0);
  }, 120_000);

  it('a promotion that adds one command before its wait breaks every stored promotion, each named', async () => {
    const { code, report } = await replayStored(['--workflows', 'test/fixtures/changed-workflows/index.ts']);
    const promotions = files.filter((f) => workflowTypeOf(f) === 'promotion');
    expect(promotions.length).toBeGreaterThan(0);
    expect(report.failures.map((f) => f.label).sort()).toEqual(promotions);
    // Older histories meet the timer where they scheduled an activity; newer ones where they recorded the
    // `deployed-spec` patch marker.
    for (const f of report.failures)
      expect(f.error).toMatch(
        /^nondeterminism: (Timer machine does not handle this event|Non-deprecated patch marker encountered)/,
      );
    expect(report.replayed).toBe(files.length);
    expect(code).toBe(1);
  }, 120_000);
});
