/**
 * Scratch directories of trainer runs (`<tmpdir>/mlo-trainer-*`): the trainer's input.json and
 * its TMPDIR. Each records the worker that made it and, once started, the trainer's process
 * group; a directory whose worker is gone (kill -9, OOM) is removed by the next run on the
 * host, after its trainer's group, should it still run, is killed.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { identify, isRunning, killLeftoverGroup, type ProcessIdentity } from './process-identity';

export const SCRATCH_PREFIX = 'mlo-trainer-';
const OWNER_FILE = 'owner.json';
/** A directory without an owner file is one being made, unless it is older than this. */
const UNOWNED_GRACE_MS = 10 * 60_000;

type Owner = { worker?: ProcessIdentity; trainer?: ProcessIdentity };

export type ScratchDir = {
  dir: string;
  /** The trainer's TMPDIR, inside the directory. */
  tmp: string;
  /** Records the trainer's process group leader. */
  recordTrainer(id: ProcessIdentity | undefined): Promise<void>;
  remove(): Promise<void>;
};

async function writeOwner(dir: string, owner: Owner): Promise<void> {
  const file = path.join(dir, OWNER_FILE);
  await fs.writeFile(`${file}.tmp`, JSON.stringify(owner));
  await fs.rename(`${file}.tmp`, file);
}

/** A new scratch directory owned by this process. */
export async function makeScratchDir(root = os.tmpdir()): Promise<ScratchDir> {
  const dir = await fs.mkdtemp(path.join(root, SCRATCH_PREFIX));
  const tmp = path.join(dir, 'tmp');
  const owner: Owner = { worker: identify(process.pid) };
  try {
    await fs.mkdir(tmp);
    await writeOwner(dir, owner);
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    tmp,
    recordTrainer: (trainer) => writeOwner(dir, { ...owner, trainer }),
    remove: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

async function readOwner(dir: string): Promise<Owner | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, OWNER_FILE), 'utf8')) as Owner;
  } catch {
    return undefined;
  }
}

/** Whether a scratch directory is abandoned: its worker is gone (or it never got an owner, long ago). */
async function abandoned(dir: string, owner: Owner | undefined): Promise<boolean> {
  if (owner?.worker) return owner.worker.host === os.hostname() && !isRunning(owner.worker);
  if (owner) return false; // made where processes cannot be identified: left alone
  const stat = await fs.stat(dir).catch(() => undefined);
  return stat !== undefined && Date.now() - stat.mtimeMs > UNOWNED_GRACE_MS;
}

/**
 * Removes the scratch directories whose worker is gone, killing their trainer's group first if it
 * still runs (an orphan). Returns the directories removed.
 */
export async function sweepAbandonedScratch(root = os.tmpdir()): Promise<string[]> {
  const names = await fs.readdir(root).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names.filter((n) => n.startsWith(SCRATCH_PREFIX))) {
    const dir = path.join(root, name);
    const owner = await readOwner(dir);
    if (!(await abandoned(dir, owner))) continue;
    if (owner?.trainer) await killLeftoverGroup(owner.trainer);
    await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    removed.push(dir);
  }
  return removed;
}
