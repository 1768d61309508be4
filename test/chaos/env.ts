/**
 * The chaos suite's own stack instance: a temporary stack directory, alternative ports (checked
 * free), its own model specs and temporary directory, so killing and restarting its parts never
 * touches the shared dev stack. Everything it creates is removed by `cleanup`, even on failure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { portInUse, stackDown, stackPaths, stackUp } from '../../lib/stack/stack';
import { loadConfig, type Config } from '../../lib/infra/config';

const PORT_VARS = [
  'MLO_TEMPORAL_PORT',
  'MLO_TEMPORAL_UI_PORT',
  'MLO_TEMPORAL_HTTP_PORT',
  'MLO_TEMPORAL_METRICS_PORT',
  'MLO_S3_PORT',
  'MLO_MLFLOW_PORT',
  'MLO_OIDC_PORT',
] as const;
/** The default ports of the dev stack, shifted by an offset; the first offset whose ports are all free wins. */
const DEFAULT_PORTS = [7233, 8233, 7243, 7244, 7070, 5050, 7380];
const OFFSETS = [20_000, 21_000, 22_000, 23_000, 24_000];

/** Variables of the shared stack that must not leak into the suite's processes. */
const SHARED_VARS = [
  'MLO_TEMPORAL_ADDRESS',
  'MLO_TEMPORAL_UI_URL',
  'MLO_S3_ENDPOINT',
  'MLO_MLFLOW_TRACKING_URI',
  'MLO_MLFLOW_UI_URL',
  'MLO_OIDC_ISSUER',
  'MLO_TOKEN',
  'MLFLOW_TRACKING_USERNAME',
  'MLFLOW_TRACKING_PASSWORD',
  'MLO_MLFLOW_REGISTRY_PASSWORD',
  // Temporal's environment configuration would win over the suite's ports (its stack writes its own profile).
  'TEMPORAL_CONFIG_FILE',
  'TEMPORAL_PROFILE',
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_TLS',
  'TEMPORAL_API_KEY',
];

export type ChaosEnv = {
  root: string;
  stackDir: string;
  modelsDir: string;
  /** TMPDIR of the workers, inherited by trainers: their input files live here, which identifies them. */
  tmpDir: string;
  logDir: string;
  ports: Record<(typeof PORT_VARS)[number], number>;
  cfg: Config;
};

async function freePorts(): Promise<number[]> {
  for (const off of OFFSETS) {
    const ports = DEFAULT_PORTS.map((p) => p + off);
    const busy = await Promise.all(ports.map((p) => portInUse(p)));
    if (!busy.some(Boolean)) return ports;
  }
  throw new Error(
    `no free block of ports for the chaos stack (tried offsets ${OFFSETS.join(', ')} of ${DEFAULT_PORTS.join(', ')})`,
  );
}

/** Creates the directories and points this process's environment (inherited by every child) at them. */
export async function prepareEnv(): Promise<ChaosEnv> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-chaos-'));
  const dirs = {
    stackDir: path.join(root, 'stack'),
    modelsDir: path.join(root, 'models'),
    tmpDir: path.join(root, 'tmp'),
    logDir: path.join(root, 'logs'),
  };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  const values = await freePorts();
  const ports = Object.fromEntries(PORT_VARS.map((v, i) => [v, values[i] as number])) as ChaosEnv['ports'];
  for (const v of SHARED_VARS) delete process.env[v];
  Object.assign(process.env, {
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    MLO_STACK_DIR: dirs.stackDir,
    MLO_MODELS_DIR: dirs.modelsDir,
  });
  return { root, ...dirs, ports, cfg: loadConfig() };
}

/** Brings up the suite's own stack (the shared Go tools and venv are reused). */
export async function upStack(log: (l: string) => void): Promise<number> {
  const r = await stackUp({ log });
  return r.seconds;
}

/** The pid of a running stack part (from its pid file). */
export function partPid(env: ChaosEnv, part: 'temporal' | 's3' | 'mlflow' | 'oidc'): number {
  const file = path.join(stackPaths({ dir: env.stackDir }).pids, `${part}.json`);
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number }).pid;
}

/** Stops the suite's stack and removes everything it wrote. */
export async function removeEnv(env: ChaosEnv, log: (l: string) => void): Promise<void> {
  if (process.env.MLO_STACK_DIR !== env.stackDir) throw new Error('refusing to stop a stack that is not the suite’s');
  await stackDown({ log }).catch((e: unknown) => log(`stack down: ${(e as Error).message}`));
  if (process.env.MLO_CHAOS_KEEP) log(`kept ${env.root} (MLO_CHAOS_KEEP)`);
  else fs.rmSync(env.root, { recursive: true, force: true });
}
