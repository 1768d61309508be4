/**
 * `npm run demo`, the main job end to end on the bundled sample data:
 *   1. brings the dev stack up (S3, the dev OIDC provider, Temporal, MLflow; built and installed
 *      on first use);
 *   2. starts the three worker pools (they sign in as the mlo-orchestrator service);
 *   3. generates the sample card-payments data if absent (deterministic: a second run reuses it);
 *   4. signs in as the engineer erin@example.com without a browser (devSignIn drives the dev
 *      provider's sign-in page over HTTP; dev only) and requests train-and-promote for both sample
 *      models side by side, up to the approval step;
 *   5. prints how a reviewer signs in to the Temporal UI and approves; when not attached to a
 *      terminal (or with --approve) it signs in as a reviewer of each model other than the
 *      requester and approves with that reviewer's own token, so each run ends with a `champion`;
 *   6. ends with a summary: stage timings, key metrics, where to look.
 * A second run reuses the stack, the data and every unchanged feature partition.
 *
 * `npm run demo -- --example credit` runs the credit-risk example instead: loan applications and
 * their delayed outcome reports from a public credit-scoring dataset (examples/credit), as
 * multi-file Parquet with hive partitions, for the model spec models/credit-risk.yaml.
 */
import { loadConfig, type Config } from '../lib/infra/config';
import { BadInputError, EXIT_CODES, isMloError, type ExitCode } from '../lib/core/errors';
import { CREDIT_AS_OF, CREDIT_EXAMPLE, ensureCreditData } from '../lib/datagen/credit-example';
import { ensureVenv } from '../lib/stack/tools';
import { generateDataset, S3Sink } from '../lib/datagen';
import { MlflowClient, tagsOf } from '../lib/registry/mlflow';
import { runInput, startOrAttach, temporalUiLink } from '../lib/client/runs';
import { findModelSpec } from '../lib/spec/model-spec';
import { stackUp } from '../lib/stack/stack';
import { connectClient } from '../lib/infra/temporal';
import { devUserTokenSource, type TokenSource } from '../lib/identity/oidc-client';
import { devPassword } from '../lib/identity/dev-users';
import { startWorkers } from '../lib/stack/worker-procs';
import { addDays } from '../lib/core/windows';
import path from 'node:path';
import {
  approveUpdate,
  progressQuery,
  promotionStateQuery,
  type PromotionState,
  type StageProgress,
  type TrainAndPromoteResult,
} from '../lib/core/definitions';
import { backfillProgressQuery } from '../workflows/featureBackfill';
import type { Client } from '@temporalio/client';
import { featuresWorkflowId, promotionWorkflowId } from '../lib/core/ids';
import { VersionTag } from '../lib/registry/tags';
import { windowRanges } from '../cli/runs';

/**
 * 100 days: fraud-detector's longest window (30d) needs 30 days of raw events before its training window, which
 * starts 70 days before the as-of day (30 training + 5 validation + 5 holdout + 30 label maturity).
 */
const SAMPLE = { events: 400_000, days: 100, start: '2026-01-01', seed: 42, prefix: 'raw/' } as const;

/** What the demo runs: its models, the day their data ends, and how the data is made. */
type Example = { models: string[]; asOf: string; data: (cfg: Config) => Promise<void> };

const EXAMPLES: Record<string, Example> = {
  fraud: {
    models: ['fraud-detector', 'fraud-baseline'],
    asOf: addDays(SAMPLE.start, SAMPLE.days),
    data: sampleData,
  },
  credit: { models: [CREDIT_EXAMPLE.model], asOf: CREDIT_AS_OF, data: creditData },
};

/** `--example <name>` (default fraud); an unknown name is an error naming the known ones. */
function chosenExample(argv: string[]): Example {
  const i = argv.indexOf('--example');
  const name = i >= 0 ? argv[i + 1] : 'fraud';
  const ex = name ? EXAMPLES[name] : undefined;
  if (!ex)
    throw new BadInputError(
      `--example ${name ?? '(missing)'}: no such example; use one of ${Object.keys(EXAMPLES).join(', ')}`,
    );
  return ex;
}
/** The engineer who requests the runs; each is approved by one of its model's reviewers (not the requester). */
const REQUESTER = 'erin@example.com';
const t0 = Date.now();
const say = (line: string) => console.log(`[demo ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${line}`);

function fmtStage(s: StageProgress): string {
  const took =
    s.startedAt && s.endedAt ? ` in ${((Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000).toFixed(1)}s` : '';
  return `${s.stage} ${s.status}${took}${s.message ? ` — ${s.message}` : ''}`;
}

/** Prints each stage line that changed since the last look (with the backfill's partitions). */
async function sayStages(
  client: Client,
  model: string,
  workflowId: string,
  stages: StageProgress[],
  seen: Map<string, string>,
): Promise<void> {
  for (const s of stages) {
    let line = fmtStage(s);
    if (s.stage === 'featureBackfill' && s.status === 'running') {
      const p = await client.workflow
        .getHandle(featuresWorkflowId(workflowId))
        .query(backfillProgressQuery)
        .catch(() => undefined);
      if (p) line += ` (${p.done}/${p.total} partitions, ${p.reused} reused)`;
    }
    if (seen.get(s.stage) !== line && s.status !== 'pending') {
      seen.set(s.stage, line);
      say(`${model}: ${line}`);
    }
  }
}

/** Where and how a reviewer approves: signed in to the Temporal UI (Send an Update), or with `mlo approve`. */
function sayHowToApprove(cfg: Config, model: string, st: PromotionState, reviewer: string): void {
  const pid = promotionWorkflowId(model);
  const query = encodeURIComponent(`MloStage="awaiting-approval"`);
  say(
    `${model}: version ${st.candidateVersion} awaits approval by one of ` +
      st.reviewers.filter((r) => r !== st.requestedBy).join(', '),
  );
  say(
    `   open ${cfg.temporal.uiUrl}/namespaces/${cfg.temporal.namespace}/workflows?query=${query}, sign in as ` +
      `a reviewer (e.g. ${reviewer} / ${devPassword(reviewer)}), then ${pid} → ` +
      `"Send an Update" → approve {"reviewer": "${reviewer}"}`,
  );
  say(`   or, signed in as that reviewer (npx mlo login): npx mlo approve ${pid}`);
}

/** Approves as `reviewer`, signed in as that dev user (their own token, their own connection). */
async function approveAs(cfg: Config, model: string, reviewer: string, candidateVersion: string): Promise<string> {
  const { client, connection } = await connectClient(cfg, devUserTokenSource(reviewer, devPassword(reviewer)));
  try {
    const r = await client.workflow.getHandle(promotionWorkflowId(model)).executeUpdate(approveUpdate, {
      args: [{ reviewer, candidateVersion, comment: `approved in the demo, signed in as ${reviewer}` }],
    });
    return r.message;
  } finally {
    await connection.close();
  }
}

/**
 * The approval step of a run waiting for it: announced once; with autoApprove, approved by a
 * reviewer other than the requester, signed in as that reviewer. Returns whether the demo approved.
 */
async function approvalStep(
  client: Client,
  cfg: Config,
  model: string,
  autoApprove: boolean,
  announced: { done: boolean },
): Promise<boolean> {
  const ph = client.workflow.getHandle(promotionWorkflowId(model));
  const st = await ph.query(promotionStateQuery).catch(() => undefined);
  if (st?.status !== 'awaiting-approval') return false;
  // Four eyes: a reviewer other than the requester.
  const reviewer = st.reviewers.find((r) => r !== st.requestedBy) ?? '<another reviewer>';
  if (!announced.done) {
    announced.done = true;
    sayHowToApprove(cfg, model, st, reviewer);
  }
  if (!autoApprove) return false;
  say(`${model}: signing in as ${reviewer} (dev provider, no browser) to approve version ${st.candidateVersion}`);
  say(`${model}: ${await approveAs(cfg, model, reviewer, st.candidateVersion)}`);
  return true;
}

async function follow(
  client: Client,
  model: string,
  workflowId: string,
  autoApprove: boolean,
): Promise<TrainAndPromoteResult> {
  const handle = client.workflow.getHandle(workflowId);
  const cfg = loadConfig();
  const seen = new Map<string, string>();
  const announced = { done: false };
  let approved = false;
  for (;;) {
    const d = await handle.describe();
    if (d.status.name !== 'RUNNING') break;
    const stages = await handle.query(progressQuery).catch(() => [] as StageProgress[]);
    await sayStages(client, model, workflowId, stages, seen);
    const promo = stages.find((s) => s.stage === 'promotion');
    if (promo?.status === 'running' && promo.phase === 'awaiting-approval' && !approved)
      approved = await approvalStep(client, cfg, model, autoApprove, announced);
    await new Promise((r) => setTimeout(r, 1000));
  }
  return handle.result() as Promise<TrainAndPromoteResult>;
}

/** Generates the sample data, or reuses it when it is already there with the same parameters. */
async function sampleData(cfg: Config): Promise<void> {
  const sink = await S3Sink.open(cfg.s3);
  const data = await generateDataset(SAMPLE, sink, (p) => {
    if (p.kind === 'payments' && (p.dayIndex % 15 === 0 || p.dayIndex === p.days - 1))
      say(`sample data: day ${p.dayIndex + 1}/${p.days} (${p.rows} payments, ${p.fraud} fraud)`);
  });
  const m = data.manifest;
  say(
    `${data.reused ? 'reusing' : 'generated'} sample data: ${m.events.actual} payments over ${SAMPLE.days} days ` +
      `from ${SAMPLE.start}, ${(m.events.fraudRate * 100).toFixed(2)}% fraud, ${m.chargebacks.total} chargebacks ` +
      `(s3://${cfg.s3.bucket}/${SAMPLE.prefix})`,
  );
}

async function creditData(cfg: Config): Promise<void> {
  const python = await ensureVenv((l) => say(l));
  const d = await ensureCreditData(cfg, python, (l) => say(l));
  say(
    `${d.reused ? 'reusing' : 'generated'} the credit example's data: ${d.summary} ` +
      `(s3://${cfg.s3.bucket}/${CREDIT_EXAMPLE.prefix})`,
  );
}

type DemoRun = { model: string; workflowId: string };
type Settled = DemoRun & ({ result: TrainAndPromoteResult } | { error: string });

/** Starts (or attaches to) the run of every model of the example on the data up to `asOf`. */
function startRuns(client: Client, cfg: Config, models: string[], asOf: string): Promise<DemoRun[]> {
  return Promise.all(
    models.map(async (model) => {
      const { spec } = findModelSpec(model);
      const input = { ...runInput(cfg, spec, { asOf, requestedBy: REQUESTER }), asOf };
      const r = await startOrAttach(client, cfg, input);
      say(
        `${model}: ${r.attached ? 'attached to the running' : 'started'} run ${r.workflowId}\n` +
          `           ${temporalUiLink(cfg, r.workflowId)}`,
      );
      return { model, workflowId: r.workflowId };
    }),
  );
}

/** Follows every run to its end; a failed run is kept with its error. */
function settle(client: Client, runs: DemoRun[], autoApprove: boolean): Promise<Settled[]> {
  return Promise.all(
    runs.map(async (r): Promise<Settled> => {
      try {
        return { ...r, result: await follow(client, r.model, r.workflowId, autoApprove) };
      } catch (err) {
        return {
          ...r,
          error:
            err instanceof Error
              ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}`
              : String(err),
        };
      }
    }),
  );
}

/** The candidate's key metrics, the champion and the version's MLflow page. */
async function printCandidate(mlflow: MlflowClient, cfg: Config, model: string, version: string): Promise<void> {
  const v = await mlflow.getModelVersion(model, version);
  const run = await mlflow.getRun(v.runId);
  const metrics = run.data.metrics.filter((x) =>
    /^(valid_auc|holdout_auc|holdout_auc_delta|holdout_pr_auc|shadow_psi)$/.test(x.key),
  );
  if (metrics.length > 0) console.log(`  metrics: ${metrics.map((x) => `${x.key}=${x.value.toFixed(4)}`).join(', ')}`);
  const champion = await mlflow.getModelVersionByAlias(model, 'champion');
  const approvedBy = champion ? tagsOf(champion)[VersionTag.approvedBy] : undefined;
  const approval = approvedBy ? `approved by ${approvedBy}` : 'no approval tag';
  console.log(`  champion: ${champion ? `version ${champion.version} (${approval})` : 'none'}`);
  console.log(`  MLflow: ${cfg.mlflow.uiUrl}/#/models/${encodeURIComponent(model)}/versions/${version}`);
}

/** One run in the summary: outcome, windows, stage timings, metrics and links. */
async function printResult(
  mlflow: MlflowClient,
  cfg: Config,
  { model, workflowId, result }: DemoRun & { result: TrainAndPromoteResult },
): Promise<void> {
  const version = result.candidateVersion ? ` (version ${result.candidateVersion})` : '';
  console.log(`\n${model}: ${result.outcome}${version}${result.message ? ` — ${result.message}` : ''}`);
  console.log(`  windows: ${windowRanges(result.windows)}`);
  for (const s of result.stages) console.log(`  ${fmtStage(s)}`);
  if (result.candidateVersion) await printCandidate(mlflow, cfg, model, result.candidateVersion);
  console.log(`  Temporal: ${temporalUiLink(cfg, workflowId)}`);
  if (result.evaluationReport) console.log(`  reports: ${result.evaluationReport}, ${result.shadowReport ?? ''}`);
}

/**
 * 0 when every run was promoted (or, on a rerun over identical inputs, found its version already
 * champion); else 1 for a failed run, 4 for a failed gate, 3 for a rejection.
 */
function demoExitCode(failed: number, outcomes: TrainAndPromoteResult['outcome'][]): ExitCode {
  if (failed > 0) return EXIT_CODES.internal;
  return outcomes.every((o) => o === 'promoted' || o === 'already-champion')
    ? EXIT_CODES.ok
    : outcomes.some((o) => o === 'gate-failed')
      ? EXIT_CODES.gateFailed
      : EXIT_CODES.rejected;
}

/** Runs the example's models as the requester, follows them and prints the summary. */
async function runModels(cfg: Config, example: Example, autoApprove: boolean): Promise<ExitCode> {
  const asOf = example.asOf;
  const requester: TokenSource = devUserTokenSource(REQUESTER, devPassword(REQUESTER));
  await requester.getAccessToken();
  say(`signed in as ${REQUESTER} (dev provider, no browser): the runs are requested by ${REQUESTER}`);
  const { client, connection } = await connectClient(cfg, requester);
  try {
    const runs = await startRuns(client, cfg, example.models, asOf);
    if (!autoApprove)
      say(
        'waiting for a reviewer to approve, signed in to the Temporal UI (or `npx mlo approve …`); ' +
          'pass --approve to let the demo sign in as a reviewer and approve',
      );
    const settled = await settle(client, runs, autoApprove);
    const failed = settled.filter((r): r is DemoRun & { error: string } => 'error' in r);
    for (const f of failed)
      console.error(`\n${f.model}: the run failed: ${f.error}\n  Temporal: ${temporalUiLink(cfg, f.workflowId)}`);
    const results = settled.filter((r): r is DemoRun & { result: TrainAndPromoteResult } => 'result' in r);

    // People read MLflow (READ); only the workers' registry account changes it.
    const mlflow = MlflowClient.fromConfig(cfg, {
      credentials: cfg.mlflow.credentials ?? { username: REQUESTER, password: devPassword(REQUESTER) },
    });
    console.log('\n=== mlo demo summary ===');
    for (const r of results) await printResult(mlflow, cfg, r);
    console.log(`\naudit trail: npx mlo audit --model ${example.models[0]}    stack: npm run stack -- status | down`);
    console.log(`demo finished in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
    return demoExitCode(
      failed.length,
      results.map((r) => r.result.outcome),
    );
  } finally {
    await connection.close();
  }
}

async function main(): Promise<number> {
  const autoApprove = process.argv.includes('--approve') || !process.stdout.isTTY;
  const example = chosenExample(process.argv.slice(2));
  say(
    "bringing up the dev stack (the first time builds mlo's Temporal server and the S3 server, and installs " +
      'MLflow: several minutes)…',
  );
  const up = await stackUp({ log: (l) => say(l) });
  say(`dev stack ready in ${up.seconds.toFixed(0)}s:\n${up.addresses.map((a) => `           ${a}`).join('\n')}`);
  const cfg = loadConfig();

  const workers = startWorkers({ logDir: path.join(cfg.stack.dir, 'logs') });
  try {
    await workers.ready;
    const { orchestrator, cpu, gpu } = cfg.taskQueues;
    say(`workers polling: ${orchestrator}, ${cpu}, ${gpu} (logs in ${path.join(cfg.stack.dir, 'logs')}/worker-*.log)`);
    await example.data(cfg);
    return await runModels(cfg, example, autoApprove);
  } finally {
    await workers.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(isMloError(err) ? `demo: ${err.message}` : err);
    process.exit(isMloError(err) ? err.exitCode : 1);
  },
);
