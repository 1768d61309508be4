/**
 * The suite's running system: its own stack, fault proxies in front of S3 and MLflow (the
 * workers and trainers reach both only through them), the three worker pools as child
 * processes, the users' clients and an inspector that reads the real services directly.
 */
import { DEV_S3_CREDENTIALS } from '../../lib/infra/config';
import path from 'node:path';
import { generateDataset, S3Sink } from '../../lib/datagen';
import { stackUp } from '../../lib/stack/stack';
import { prepareEnv, partPid, removeEnv, upStack, type ChaosEnv } from './env';
import { FaultProxy } from './fault-proxy';
import { isAlive, signalGroup, startWorker, stopWorker, suiteTrainers, type Pool, type WorkerProc } from './procs';
import { Clients, sleep } from './runs';
import { Inspector } from './checks';
import { CHAOS_DATA } from './specs';
import { removeChangedWorkflows } from './changed-workflows';

const POOLS: Pool[] = ['orchestrator', 'cpu', 'gpu'];

export class Suite {
  readonly workers = new Map<Pool, WorkerProc>();
  /** Worker entry points other than `workers/<pool>.ts` (the changed orchestrator). */
  readonly entries = new Map<Pool, { entry: string; env: NodeJS.ProcessEnv }>();
  clients!: Clients;
  ins!: Inspector;
  s3Proxy!: FaultProxy;
  mlflowProxy!: FaultProxy;

  private constructor(
    readonly env: ChaosEnv,
    readonly log: (l: string) => void,
  ) {}

  /** Prepares the environment; `up` brings the parts up. Call `close` in any case. */
  static async create(log: (l: string) => void): Promise<Suite> {
    return new Suite(await prepareEnv(), log);
  }

  async up(): Promise<void> {
    const { cfg } = this.env;
    const seconds = await upStack((l) => this.log(`stack: ${l}`));
    this.log(
      `own stack up in ${seconds.toFixed(0)}s under ${this.env.stackDir} (Temporal :${this.env.ports.MLO_TEMPORAL_PORT})`,
    );
    this.s3Proxy = await FaultProxy.start('S3', { host: '127.0.0.1', port: cfg.stack.s3Port });
    this.mlflowProxy = await FaultProxy.start('MLflow', { host: '127.0.0.1', port: cfg.stack.mlflowPort });
    this.ins = new Inspector(cfg);
    const t0 = Date.now();
    const sink = await S3Sink.open(cfg.s3);
    const data = await generateDataset(CHAOS_DATA, sink);
    this.log(
      `sample data: ${data.manifest.events.actual} payments over ${CHAOS_DATA.days} days in ${((Date.now() - t0) / 1000).toFixed(0)}s`,
    );
    await Promise.all(POOLS.map((p) => this.startPool(p)));
    this.clients = await Clients.open(cfg);
  }

  /** What the workers (and, through their environment, the trainers) are pointed at. */
  workerEnv(): NodeJS.ProcessEnv {
    return {
      MLO_S3_ENDPOINT: this.s3Proxy.url,
      // The dev stack's keys: through the proxy the endpoint is not the stack's own, which would mean the AWS chain.
      MLO_S3_ACCESS_KEY_ID: DEV_S3_CREDENTIALS.accessKeyId,
      MLO_S3_SECRET_ACCESS_KEY: DEV_S3_CREDENTIALS.secretAccessKey,
      MLO_MLFLOW_TRACKING_URI: this.mlflowProxy.url,
      MLO_MLFLOW_UI_URL: this.env.cfg.mlflow.uiUrl,
      TMPDIR: this.env.tmpDir,
    };
  }

  async startPool(pool: Pool): Promise<WorkerProc> {
    const custom = this.entries.get(pool);
    const w = await startWorker(pool, { ...this.workerEnv(), ...custom?.env }, this.env.logDir, custom?.entry);
    this.workers.set(pool, w);
    return w;
  }

  worker(pool: Pool): WorkerProc {
    const w = this.workers.get(pool);
    if (!w) throw new Error(`no ${pool} worker`);
    return w;
  }

  /** Stops the pool's worker gracefully and starts it again (with the entry point configured now). */
  async redeploy(pool: Pool): Promise<WorkerProc> {
    await stopWorker(this.worker(pool));
    return this.startPool(pool);
  }

  /** Stops the suite's Temporal server (SIGTERM to its process group) and starts it again. */
  async restartTemporal(): Promise<void> {
    const pid = partPid(this.env, 'temporal');
    signalGroup(pid, 'SIGTERM');
    const deadline = Date.now() + 20_000;
    while (isAlive(pid) && Date.now() < deadline) await sleep(100);
    if (isAlive(pid)) signalGroup(pid, 'SIGKILL');
    await stackUp({ only: ['temporal'], log: (l) => this.log(`stack: ${l}`) });
  }

  /** Back to the normal state between scenarios: proxies up, original workers, every pool running. */
  async heal(): Promise<void> {
    for (const p of [this.s3Proxy, this.mlflowProxy]) {
      p.disarm();
      await p.setMode('up');
    }
    if (this.entries.size > 0) {
      const pools = [...this.entries.keys()];
      this.entries.clear();
      for (const pool of pools) await this.redeploy(pool);
      removeChangedWorkflows();
    }
    await stackUp({ log: () => undefined }); // a part that is not running is started again
    for (const pool of POOLS) if (!isAlive(this.worker(pool).pid)) await this.startPool(pool);
  }

  /** Stops everything the suite started and removes its directories. Safe to call twice. */
  async close(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => stopWorker(w, 5_000)));
    for (const t of suiteTrainers(this.env.tmpDir)) signalGroup(t.pgid, 'SIGKILL');
    await this.s3Proxy?.close();
    await this.mlflowProxy?.close();
    removeChangedWorkflows();
    await removeEnv(this.env, (l) => this.log(l));
    // Last: a scenario interrupted by a signal may still poll through these clients.
    this.ins?.close();
    await this.clients?.close();
  }

  logFile(pool: Pool): string {
    return path.join(this.env.logDir, `worker-${pool}.log`);
  }
}
