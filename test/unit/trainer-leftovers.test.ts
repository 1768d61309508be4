/**
 * What a retry finds of a dead attempt on the same host: a trainer process group still running
 * and a scratch directory. Real processes: a detached group (a leader and its child), killed only
 * when the recorded identity (host, boot, pid, start time) is still the running process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { identify, isRunning, killLeftoverGroup } from '../../lib/trainer/process-identity';
import { makeScratchDir, SCRATCH_PREFIX, sweepAbandonedScratch } from '../../lib/trainer/scratch';
import { isAlive } from '../helpers/spawn';

const started: ChildProcess[] = [];

/** A detached process group: a leader that starts a child, both sleeping; resolves with both pids. */
async function startGroup(): Promise<{ leader: number; child: number }> {
  const script =
    "const c = require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], " +
    "{ stdio: 'ignore' }); console.log(c.pid); setInterval(() => {}, 1000);";
  const p = spawn(process.execPath, ['-e', script], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  started.push(p);
  const child = await new Promise<number>((resolve) => p.stdout.once('data', (b: Buffer) => resolve(Number(b))));
  return { leader: p.pid!, child };
}

afterEach(() => {
  for (const p of started.splice(0))
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
});

describe('process identity', () => {
  it('identifies a live process by host, boot, pid and start time', () => {
    const me = identify(process.pid);
    expect(me).toMatchObject({ host: os.hostname(), pid: process.pid });
    expect(me!.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(me!.startTicks).toBeGreaterThan(0);
    expect(isRunning(me!)).toBe(true);
    expect(isRunning({ ...me!, startTicks: me!.startTicks + 1 })).toBe(false);
  });
});

describe('killLeftoverGroup', () => {
  it('kills the whole group of a recorded leader that still runs, and waits until it is gone', async () => {
    const { leader, child } = await startGroup();
    const id = identify(leader)!;
    expect(await killLeftoverGroup(id)).toBe('killed');
    // The leader is this test's child: reaped by Node; its own child is reparented and reaped by init.
    await new Promise((r) => setTimeout(r, 200));
    expect(isAlive(child)).toBe(false);
    expect(isRunning(id)).toBe(false);
    expect(await killLeftoverGroup(id)).toBe('gone');
  });

  it('kills what is left of the group when its leader died alone (an OOM kill of the trainer)', async () => {
    const { leader, child } = await startGroup();
    const id = identify(leader)!;
    process.kill(leader, 'SIGKILL');
    await new Promise((r) => started.at(-1)!.once('exit', r));
    expect(isAlive(child)).toBe(true);
    expect(await killLeftoverGroup(id)).toBe('killed');
    await new Promise((r) => setTimeout(r, 200));
    expect(isAlive(child)).toBe(false);
  });

  it('never kills a process that only shares the pid (a recycled pid), nor one recorded on another host', async () => {
    const { leader, child } = await startGroup();
    const id = identify(leader)!;
    expect(await killLeftoverGroup({ ...id, startTicks: id.startTicks - 1 })).toBe('not-ours');
    expect(await killLeftoverGroup({ ...id, bootId: '00000000-0000-0000-0000-000000000000' })).toBe('gone');
    expect(await killLeftoverGroup({ ...id, host: `${id.host}-elsewhere` })).toBe('other-host');
    expect(isAlive(leader) && isAlive(child)).toBe(true);
  });
});

describe('scratch directories', () => {
  it("removes a dead worker's directory after killing its trainer group, and keeps a live worker's", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'scratch-test-'));
    try {
      // A worker that is gone (it ran and exited), whose trainer still runs.
      const dead = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 100));
      const deadWorker = identify(dead.pid!)!;
      dead.kill('SIGKILL');
      await new Promise((r) => dead.once('exit', r));
      const { leader, child } = await startGroup();
      const orphan = path.join(root, `${SCRATCH_PREFIX}orphan`);
      fs.mkdirSync(path.join(orphan, 'tmp'), { recursive: true });
      fs.writeFileSync(path.join(orphan, 'tmp', 'partial.bin'), 'x');
      fs.writeFileSync(
        path.join(orphan, 'owner.json'),
        JSON.stringify({ worker: deadWorker, trainer: identify(leader) }),
      );
      // This process's own directory, with a running trainer: in use.
      const mine = await makeScratchDir(root);
      await mine.recordTrainer(identify(leader));
      // Another project's directory is not touched.
      fs.mkdirSync(path.join(root, 'other-dir'));

      expect(await sweepAbandonedScratch(root)).toEqual([orphan]);
      await new Promise((r) => setTimeout(r, 200));
      expect(fs.existsSync(orphan)).toBe(false);
      expect(isAlive(child)).toBe(false);
      expect(fs.existsSync(mine.dir) && fs.existsSync(mine.tmp)).toBe(true);
      expect(fs.existsSync(path.join(root, 'other-dir'))).toBe(true);
      await mine.remove();
      expect(fs.existsSync(mine.dir)).toBe(false);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('a failed creation leaves nothing behind', async () => {
    await expect(makeScratchDir(path.join(os.tmpdir(), 'no-such-dir-for-scratch', 'x'))).rejects.toThrow(/ENOENT/);
  });
});
