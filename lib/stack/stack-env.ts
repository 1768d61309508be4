/**
 * `npm run stack -- env`: the variables that point a shell's clients (the `mlo` command, workers,
 * tests) at the running dev stack, read from the stack's pid records, which hold the ports each
 * part was started on. A stack started with `MLO_TEMPORAL_PORT=17233` in one shell is then reached
 * from another with `eval "$(npm run -s stack -- env)"`: every client address defaults from these ports.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { StackConfig } from '../infra/config';
import { PARTS, stackPaths, type PartName } from './stack';

/** The port variables of each part, in the order its pid record lists the ports (lib/stack/stack.ts). */
const PORT_VARIABLES: Record<PartName, string[]> = {
  s3: ['MLO_S3_PORT'],
  oidc: ['MLO_OIDC_PORT'],
  temporal: ['MLO_TEMPORAL_PORT', 'MLO_TEMPORAL_UI_PORT', 'MLO_TEMPORAL_HTTP_PORT', 'MLO_TEMPORAL_METRICS_PORT'],
  mlflow: ['MLO_MLFLOW_PORT'],
};

export type StackEnv = { variables: Record<string, string>; missing: PartName[] };

/** The stack directory and every running part's ports; parts without a pid record are listed as missing. */
export function stackEnv(stack: Pick<StackConfig, 'dir'>): StackEnv {
  const variables: Record<string, string> = { MLO_STACK_DIR: path.resolve(stack.dir) };
  const missing: PartName[] = [];
  for (const part of PARTS) {
    let ports: unknown;
    try {
      ports = (
        JSON.parse(fs.readFileSync(path.join(stackPaths(stack).pids, `${part}.json`), 'utf8')) as {
          ports?: unknown;
        }
      ).ports;
    } catch {
      missing.push(part);
      continue;
    }
    const names = PORT_VARIABLES[part];
    if (!Array.isArray(ports) || ports.length !== names.length || !ports.every((p) => Number.isInteger(p))) {
      missing.push(part);
      continue;
    }
    names.forEach((name, i) => (variables[name] = String(ports[i])));
  }
  return { variables, missing };
}

/** POSIX shell `export` lines, values single-quoted. */
export function exportLines(variables: Record<string, string>): string {
  return Object.entries(variables)
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join('\n');
}
