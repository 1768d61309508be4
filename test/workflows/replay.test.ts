/**
 * Replays stored histories of real runs against today's workflow code. A change that would
 * break a running promotion (or any stored run) is nondeterministic here and fails CI; such a
 * change must go through `patched()`. Refresh the fixtures with `npm run record-fixtures`.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HISTORIES_DIR } from '../helpers/fixtures';
import { runTs } from '../helpers/spawn';

const files = fs.existsSync(HISTORIES_DIR)
  ? fs
      .readdirSync(HISTORIES_DIR)
      .filter((f) => f.endsWith('.json'))
      .sort()
  : [];

describe('stored histories replay against the current workflow code', () => {
  it('has stored histories of promotions, rollbacks and full runs', () => {
    const names = files.join(' ');
    expect(names).toMatch(/promotion-approved/);
    expect(names).toMatch(/promotion-rejected/);
    expect(names).toMatch(/promotion-expired/);
    expect(names).toMatch(/rollback/);
    expect(names).toMatch(/train-and-promote/);
  });

  it('every stored history replays without nondeterminism', async () => {
    const r = await runTs('scripts/replay.ts', []);
    const last = r.output.trim().split('\n').at(-1) ?? '';
    const out = JSON.parse(last) as {
      replayed: number;
      files: number;
      failures: { workflowId: string; error: string }[];
    };
    expect(out.failures).toEqual([]);
    expect(out.replayed).toBe(files.length);
    expect(r.code).toBe(0);
  }, 120_000);
});
