/**
 * Replays workflow histories against the workflow code of the working tree, bundled as the
 * orchestrator worker bundles it (workflows/index.ts with mlo's workflow interceptors):
 *
 *   npm run replay                     the stored histories, test/fixtures/histories/<release>/*.json
 *   npm run replay -- --from-server    the pre-deploy check: every open workflow on the orchestrator's
 *                                      task queue, its history read from Temporal
 *
 * Options: --task-queue Q (default MLO_QUEUE_ORCHESTRATOR), --workflows FILE (another workflow
 * module instead of workflows/index.ts), --as-service (sign in as the orchestrator service,
 * MLO_ORCHESTRATOR_CLIENT_SECRET, instead of the `mlo login` user), --json (one JSON object on stdout).
 *
 * With --from-server, workflows pinned to a Worker Deployment Version are skipped (their own
 * version's workers keep running them); every other open workflow is run by the new code once
 * it is deployed, so each must replay. Exit 0: all replay; 1: some would break (each named);
 * 2: bad input or sign-in; 5: Temporal unreachable. Run as its own process: protobufjs's JSON
 * support needs one module instance.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { decodeVersioningBehavior } from '@temporalio/common';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { loadConfig, WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../lib/infra/config';
import { isMloError } from '../lib/core/errors';
import { clientCredentialsToken, serviceCredentials, userTokenSource } from '../lib/identity/oidc-client';
import { CLIENT_IDS } from '../lib/identity/shared';
import { withTemporal } from '../cli/context';
import { HISTORIES_DIR, storedHistoryFiles } from './stored-histories';

/** One history to replay, and how the report names it. */
type Item = { workflowId: string; history: History; label: string };
type Outcome = { label: string; workflowId: string; error?: string };
type Report = {
  source: string;
  replayed: number;
  /** the workflow id of every history replayed */
  workflowIds: string[];
  failures: Outcome[];
  skipped: { label: string; reason: string }[];
};

function args() {
  return parseArgs({
    options: {
      'from-server': { type: 'boolean', default: false },
      'task-queue': { type: 'string' },
      workflows: { type: 'string' },
      'as-service': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  }).values;
}

/** Stored histories, replayed under their original workflow ids (child workflow ids derive from them). */
function storedItems(): Item[] {
  return storedHistoryFiles().map((file) => {
    const json = JSON.parse(fs.readFileSync(path.join(HISTORIES_DIR, file), 'utf8')) as {
      events?: { workflowExecutionStartedEventAttributes?: { workflowId?: string } }[];
    };
    const workflowId = json.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowId ?? file;
    return { workflowId, history: historyFromJSON(json), label: file };
  });
}

/** The open workflows of `taskQueue` that unversioned or auto-upgrading workers run, with their histories. */
async function openItems(client: Client, taskQueue: string): Promise<{ items: Item[]; skipped: Report['skipped'] }> {
  const items: Item[] = [];
  const skipped: Report['skipped'] = [];
  const query = `ExecutionStatus = "Running" AND TaskQueue = "${taskQueue}"`;
  for await (const wf of client.workflow.list({ query })) {
    const label = `${wf.workflowId} (type ${wf.type}, run ${wf.runId})`;
    const handle = client.workflow.getHandle(wf.workflowId, wf.runId);
    let history: History;
    try {
      // The list (visibility) does not carry the run's versioning; its description does.
      const pinned = pinnedTo((await handle.describe()).raw.workflowExecutionInfo?.versioningInfo);
      if (pinned) {
        skipped.push({ label, reason: `pinned to ${pinned}` });
        continue;
      }
      history = await handle.fetchHistory();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      skipped.push({ label, reason: 'closed and deleted while being checked' });
      continue;
    }
    items.push({ workflowId: wf.workflowId, history, label });
  }
  return { items, skipped };
}

type Versioning = temporal.api.workflow.v1.IWorkflowExecutionVersioningInfo;

/** The deployment version a run is pinned to (by an operator's override, else by its workers), if any. */
function pinnedTo(v: Versioning | null | undefined): string | undefined {
  const name = (d?: { deploymentName?: string | null; buildId?: string | null } | null) =>
    d ? `${d.deploymentName}.${d.buildId}` : 'a deployment version';
  const override = v?.versioningOverride;
  if (override?.pinned) return name(override.pinned.version);
  if (override?.autoUpgrade) return undefined;
  if (decodeVersioningBehavior(override?.behavior) === 'PINNED') return override?.pinnedVersion || name();
  if (decodeVersioningBehavior(v?.behavior) === 'PINNED') return name(v?.deploymentVersion);
  return undefined;
}

/** Replays `items` in order against the bundle of `workflowsPath`. */
async function replay(items: Item[], workflowsPath: string): Promise<Outcome[]> {
  if (items.length === 0) return [];
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    logger: new DefaultLogger('WARN'),
  });
  const options: ReplayWorkerOptions = {
    workflowBundle: { code },
    interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES },
    replayName: 'mlo-replay',
  };
  const outcomes: Outcome[] = [];
  let i = 0;
  for await (const r of Worker.runReplayHistories(options, items)) {
    const item = items[i++];
    const error = r.error ? briefly(r.error.message) : undefined;
    outcomes.push({ label: item?.label ?? r.workflowId, workflowId: r.workflowId, ...(error ? { error } : {}) });
  }
  return outcomes;
}

function summary(outcomes: Outcome[]): Pick<Report, 'replayed' | 'workflowIds' | 'failures'> {
  return {
    replayed: outcomes.length,
    workflowIds: outcomes.map((o) => o.workflowId),
    failures: outcomes.filter((o) => o.error),
  };
}

/** The core's nondeterminism message (which command met which event), else the first line. */
function briefly(message: string): string {
  const nondeterminism = /\[TMPRL1100\] Nondeterminism error: ([^"]*)/.exec(message);
  if (nondeterminism) return `nondeterminism: ${nondeterminism[1]}`;
  return message.split('\n')[0] ?? message;
}

function print(report: Report, json: boolean, fromServer: boolean): void {
  if (json) {
    console.log(JSON.stringify(report));
    return;
  }
  const what = (n: number) =>
    fromServer ? `open workflow${n === 1 ? '' : 's'}` : `stored histor${n === 1 ? 'y' : 'ies'}`;
  for (const s of report.skipped) console.log(`skipped  ${s.label}: ${s.reason}`);
  const pinned = report.skipped.length ? `; ${report.skipped.length} pinned skipped` : '';
  if (report.replayed === 0 && fromServer) {
    console.log(`replay: no open workflows to check (${report.source})${pinned}`);
    return;
  }
  const failed = new Set(report.failures.map((f) => f.label));
  for (const f of report.failures) console.log(`BREAKS   ${f.label}: ${f.error}`);
  console.log(
    `replay: ${report.replayed - failed.size} of ${report.replayed} ${what(report.replayed)} (${report.source}) ` +
      `replay on this code${pinned}`,
  );
  if (report.failures.length === 0) return;
  console.log(
    `replay: ${report.failures.length} ${what(report.failures.length)} would break on this code: ` +
      `${report.failures.map((f) => f.workflowId).join(', ')}. ` +
      (fromServer ? 'Do not deploy it. ' : '') +
      "Guard the changed commands with patched('<change id>') so that runs started before the change keep " +
      'their old path (docs/upgrades.md).',
  );
}

async function main(): Promise<number> {
  const opts = args();
  // The replay's own report names each failure; the core's per-task warnings would repeat it.
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
  });
  const workflowsPath = opts.workflows ? path.resolve(opts.workflows) : WORKFLOWS_PATH;
  if (!fs.existsSync(workflowsPath)) {
    console.error(
      `replay: --workflows ${opts.workflows}: no such file; name a workflow module, e.g. workflows/index.ts`,
    );
    return 2;
  }
  let report: Report;
  if (opts['from-server']) {
    const cfg = loadConfig();
    const taskQueue = opts['task-queue'] ?? cfg.taskQueues.orchestrator;
    if (!/^[^"\\]+$/.test(taskQueue)) {
      console.error(`replay: --task-queue "${taskQueue}" is not a task queue name (no quotes or backslashes)`);
      return 2;
    }
    const tokens = opts['as-service']
      ? clientCredentialsToken(serviceCredentials(CLIENT_IDS.orchestrator))
      : userTokenSource();
    const { items, skipped } = await withTemporal((ctx) => openItems(ctx.client, taskQueue), cfg, tokens);
    const source = `task queue ${taskQueue} on ${cfg.temporal.address}, namespace ${cfg.temporal.namespace}`;
    const outcomes = await replay(items, workflowsPath);
    report = { source, ...summary(outcomes), skipped };
  } else {
    const items = storedItems();
    const outcomes = await replay(items, workflowsPath);
    report = {
      source: path.relative(process.cwd(), HISTORIES_DIR) || HISTORIES_DIR,
      ...summary(outcomes),
      skipped: [],
    };
    if (outcomes.length !== items.length) throw new Error(`replayed ${outcomes.length} of ${items.length} histories`);
  }
  print(report, opts.json, opts['from-server']);
  return report.failures.length === 0 ? 0 : 1;
}

main().then(
  (c) => process.exit(c),
  (err: unknown) => {
    if (isMloError(err)) {
      console.error(`replay: ${err.message}`);
      process.exit(err.exitCode);
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(
        `replay: ${(err as Error).message}; options: --from-server, --task-queue Q, --workflows FILE, --as-service, --json`,
      );
      process.exit(2);
    }
    console.error(err);
    process.exit(1);
  },
);
