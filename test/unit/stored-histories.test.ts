/** Stored histories are immutable: recording adds a release's directory and never rewrites a file. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  checkReleaseName,
  HISTORIES_DIR,
  storedHistoryFiles,
  writeStoredHistory,
} from '../../scripts/stored-histories';
import { runTs } from '../helpers/spawn';

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-histories-'));
  dirs.push(d);
  return d;
}

function digest(dir: string): string {
  const h = createHash('sha256');
  for (const f of storedHistoryFiles(dir)) h.update(f).update(fs.readFileSync(path.join(dir, f)));
  return h.digest('hex');
}

describe('stored histories', () => {
  it('a history is written under its release and never replaced', () => {
    const dir = tempDir();
    const file = writeStoredHistory('0.2.0+abc1234', 'promotion-approved', '{"events":[1]}', dir);
    expect(file).toBe(path.join(dir, '0.2.0+abc1234', 'promotion-approved.json'));
    expect(() => writeStoredHistory('0.2.0+abc1234', 'promotion-approved', '{"events":[2]}', dir)).toThrow(
      /0\.2\.0\+abc1234\/promotion-approved\.json exists: stored histories are immutable and are never rewritten; record under a new release name \(MLO_FIXTURES_RELEASE=<name> npm run record-fixtures\)/,
    );
    expect(fs.readFileSync(file, 'utf8')).toBe('{"events":[1]}');
    writeStoredHistory('0.3.0', 'promotion-approved', '{"events":[3]}', dir);
    expect(storedHistoryFiles(dir)).toEqual(['0.2.0+abc1234/promotion-approved.json', '0.3.0/promotion-approved.json']);
  });

  it('a release name is one directory name', () => {
    expect(checkReleaseName('0.1.0+49cfdb7')).toBe('0.1.0+49cfdb7');
    for (const bad of ['../x', 'a/b', '', '.hidden', 'x'.repeat(65)])
      expect(() => checkReleaseName(bad)).toThrow(/is not a directory name of letters, digits/);
  });

  it('record-fixtures refuses a release that is stored already, before running anything, and changes nothing', async () => {
    const [release] = storedHistoryFiles()[0]?.split('/') ?? [];
    expect(release).toBeTruthy();
    const before = digest(HISTORIES_DIR);
    const r = await runTs('scripts/record-fixtures.ts', [], { MLO_FIXTURES_RELEASE: release });
    expect(r.code).toBe(2);
    expect(r.output).toContain(
      `record-fixtures: test/fixtures/histories/${release}/ exists (${storedHistoryFiles(path.join(HISTORIES_DIR, release!)).length} histories): stored histories are immutable and are never rewritten.`,
    );
    expect(r.output).not.toContain('record-fixtures: recording into');
    expect(r.output).not.toMatch(/ RUN /);
    expect(digest(HISTORIES_DIR)).toBe(before);
  });

  it('record-fixtures refuses a release name that is not a directory name', async () => {
    const r = await runTs('scripts/record-fixtures.ts', [], { MLO_FIXTURES_RELEASE: '../elsewhere' });
    expect(r.code).toBe(2);
    expect(r.output).toMatch(/record-fixtures: the release name "\.\.\/elsewhere" is not a directory name/);
  });
});
