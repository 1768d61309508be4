/**
 * "A deploy of a changed promotion workflow": a copy of `workflows/` in which the promotion
 * runs one more command (a 1 ms timer) before it waits for a reviewer, guarded by
 * `patched()` as a release that changes workflow code must be. The copy lives next to
 * `workflows/` (so its imports resolve to the same lib/ and activities/) and is removed after
 * the scenario; `orchestrator-changed.ts` runs a workflow worker on it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/infra/config';

export const CHANGE_PATCH_ID = 'mlo-chaos-changed-promotion';
export const CHANGED_DIR = path.join(PROJECT_ROOT, '.chaos-workflows');

/** Writes the changed copy and returns its entry point (`index.ts`). */
export function writeChangedWorkflows(): string {
  fs.rmSync(CHANGED_DIR, { recursive: true, force: true });
  fs.cpSync(path.join(PROJECT_ROOT, 'workflows'), CHANGED_DIR, { recursive: true });
  const file = path.join(CHANGED_DIR, 'promotion.ts');
  const text = fs.readFileSync(file, 'utf8');
  const wait = /^(\s*)return gate\.wait\(/m;
  const m = wait.exec(text);
  if (!m)
    throw new Error(`workflows/promotion.ts has no "return gate.wait(": update the chaos suite's changed promotion`);
  const indent = m[1] ?? '';
  const changed =
    `import { patched as deployPatched, sleep as deploySleep } from '@temporalio/workflow';\n` +
    text.replace(wait, `${indent}if (deployPatched('${CHANGE_PATCH_ID}')) await deploySleep(1);\n${m[0]}`);
  fs.writeFileSync(file, changed);
  return path.join(CHANGED_DIR, 'index.ts');
}

export function removeChangedWorkflows(): void {
  fs.rmSync(CHANGED_DIR, { recursive: true, force: true });
}
