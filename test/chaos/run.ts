/**
 * `npm run chaos [-- <scenario>…]`: the chaos suite. Brings up its own stack instance (own
 * directory, own ports; the shared dev stack is never touched), starts the three worker pools as
 * processes, and for each scenario requests a real train-and-promote run as an engineer, injects
 * its fault at the chosen moment, approves as a second, authenticated reviewer and checks what
 * the fault left behind. Prints a table and, as its last line, `{scenarios, passed, max_recovery_s}`.
 * Bounded: a timeout per scenario and for the whole suite; cleans up on success, failure and Ctrl-C.
 */
import { randomUUID } from 'node:crypto';
import type { TrainAndPromoteResult } from '../../lib/core/definitions';
import { checkAliases, checkAudit, checkNoTrainers, checkVersions, type Check } from './checks';
import { leftoverTrainerDirs } from './procs';
import { approveWhenAwaiting, startRun } from './runs';
import { SCENARIOS, type Ctx, type Scenario } from './scenarios';
import { deployChaosSpec } from './specs';
import { Suite } from './suite';

const SCENARIO_TIMEOUT_MS = Number(process.env.MLO_CHAOS_SCENARIO_TIMEOUT_S ?? 420) * 1000;
const SUITE_BUDGET_MS = Number(process.env.MLO_CHAOS_BUDGET_S ?? 1200) * 1000;

type Row = {
  scenario: string;
  injectedAt: string;
  recoveryS: number | undefined;
  versions: number | undefined;
  tookS: number;
  passed: boolean;
  failures: string[];
  notes: string[];
};

const t0 = Date.now();
const say = (l: string) => console.log(`[chaos ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${l}`);

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000}s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function message(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${message(err.cause)}` : '';
  return `${err.message}${cause}`;
}

/** Injection to the end of the stage it hit. */
function recoveryOf(ctx: Ctx, result: TrainAndPromoteResult | undefined): number | undefined {
  const inj = ctx.injection;
  const ended = result?.stages.find((s) => s.stage === inj?.stage)?.endedAt;
  if (!inj || !ended) return undefined;
  return Math.max(0, (Date.parse(ended) - inj.time) / 1000);
}

async function checks(
  suite: Suite,
  ctx: Ctx,
  sc: Scenario,
  result: TrainAndPromoteResult | undefined,
): Promise<Check[]> {
  const { ins } = suite;
  const out: Check[] = [
    await checkVersions(ins, ctx.model, result?.candidateVersion),
    await checkAliases(ins, ctx.model, result?.outcome === 'promoted' ? result.candidateVersion : undefined),
    await checkNoTrainers(suite.env.tmpDir),
    await checkAudit(ins, ctx.model),
  ];
  if (sc.check && result) out.push(...(await sc.check(ctx, result)));
  return out;
}

async function stopRun(suite: Suite, ctx: Ctx): Promise<void> {
  for (const c of [suite.clients.service, suite.clients.engineer])
    if (
      await ctx.handle.describe().then(
        (d) => d.status.name === 'RUNNING',
        () => false,
      )
    )
      await c.workflow
        .getHandle(ctx.handle.workflowId)
        .terminate('chaos scenario timed out')
        .catch(() => undefined);
}

async function runScenario(suite: Suite, sc: Scenario): Promise<Row> {
  const started = Date.now();
  const model = `chaos-${sc.name}-${randomUUID().slice(0, 6)}`;
  const { spec } = deployChaosSpec(suite.env.modelsDir, model, sc.trainer);
  const handle = await startRun(suite.clients, suite.env.cfg, spec);
  say(`${sc.name}: ${sc.title} — run ${handle.workflowId}`);
  const ctx: Ctx = { suite, model, handle, runStart: started, holdApproval: sc.holdApproval ?? false, notes: [] };
  let finished = false;
  const injecting = sc.inject(ctx).then(
    () => undefined,
    (err: unknown) => `injection failed: ${message(err)}`,
  );
  const approving = approveWhenAwaiting(suite.clients, handle, model, {
    hold: () => ctx.holdApproval,
    done: () => finished,
  }).catch(() => undefined);
  const failures: string[] = [];
  let result: TrainAndPromoteResult | undefined;
  try {
    result = await timeout<TrainAndPromoteResult>(handle.result(), SCENARIO_TIMEOUT_MS, 'the run');
    if (result.outcome !== 'promoted') failures.push(`run ended ${result.outcome}: ${result.message ?? ''}`);
  } catch (err) {
    failures.push(`run did not complete: ${message(err)}`);
    await stopRun(suite, ctx);
  } finally {
    finished = true;
  }
  const injectError = await timeout(injecting, 90_000, 'the injection').catch((e: unknown) => message(e));
  if (injectError) failures.push(injectError);
  await approving;
  for (const c of await checks(suite, ctx, sc, result).catch((e: unknown) => [
    { name: 'checks', ok: false, detail: message(e) },
  ]))
    if (!c.ok) failures.push(`${c.name}: ${c.detail}`);
    else ctx.notes.push(`${c.name}: ${c.detail}`);
  const dirs = leftoverTrainerDirs(suite.env.tmpDir);
  if (dirs.length > 0) ctx.notes.push(`leftover trainer temp dirs so far: ${dirs.length}`);
  await suite.heal();
  return {
    scenario: sc.name,
    injectedAt: ctx.injection?.at ?? 'not injected',
    recoveryS: recoveryOf(ctx, result),
    versions: await suite.ins.versions(model).then(
      (v) => v.length,
      () => undefined,
    ),
    tookS: (Date.now() - started) / 1000,
    passed: failures.length === 0,
    failures,
    notes: ctx.notes,
  };
}

function printTable(rows: Row[]): void {
  const head = ['scenario', 'injected at', 'recovery', 'versions', 'took', 'result'];
  const cells = rows.map((r) => [
    r.scenario,
    r.injectedAt,
    r.recoveryS === undefined ? '-' : `${r.recoveryS.toFixed(1)}s`,
    r.versions === undefined ? '?' : String(r.versions),
    `${r.tookS.toFixed(0)}s`,
    r.passed ? 'PASS' : 'FAIL',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const c of cells) console.log(line(c));
  for (const r of rows) {
    for (const f of r.failures) console.log(`  ${r.scenario} FAIL ${f}`);
    for (const n of r.notes) console.log(`  ${r.scenario} note ${n}`);
  }
}

function selected(args: string[]): Scenario[] {
  if (args.length === 0) return SCENARIOS;
  const unknown = args.filter((a) => !SCENARIOS.some((s) => s.name === a));
  if (unknown.length > 0)
    throw new Error(`unknown scenario ${unknown.join(', ')}; choose from ${SCENARIOS.map((s) => s.name).join(', ')}`);
  return SCENARIOS.filter((s) => args.includes(s.name));
}

async function main(): Promise<number> {
  const scenarios = selected(process.argv.slice(2).filter((a) => a !== '--'));
  const suite = await Suite.create(say);
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= suite.close().catch((e: unknown) => say(`cleanup: ${message(e)}`)));
  // Kept installed: Ctrl-C reaches tsx's parent too, which relays the signal again; a second
  // signal must not kill the suite half-way through its cleanup.
  const onSignal = (sig: NodeJS.Signals) => {
    if (closing) return;
    say(`${sig}: stopping the suite and cleaning up`);
    void close().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // An interrupted scenario's polls may fail once their connections close: cleanup goes on.
  process.on('uncaughtException', (err) => {
    if (!closing) throw err;
    say(`during cleanup: ${message(err)}`);
  });
  const rows: Row[] = [];
  try {
    await suite.up();
    for (const sc of scenarios) {
      if (Date.now() - t0 > SUITE_BUDGET_MS - 60_000) {
        rows.push({
          scenario: sc.name,
          injectedAt: 'not run',
          recoveryS: undefined,
          versions: undefined,
          tookS: 0,
          passed: false,
          failures: ['the suite budget was spent'],
          notes: [],
        });
        continue;
      }
      const row = await runScenario(suite, sc).catch((e: unknown): Row => ({
        scenario: sc.name,
        injectedAt: 'not injected',
        recoveryS: undefined,
        versions: undefined,
        tookS: 0,
        passed: false,
        failures: [message(e)],
        notes: [],
      }));
      say(`${sc.name}: ${row.passed ? 'PASS' : `FAIL — ${row.failures.join('; ')}`} (${row.tookS.toFixed(0)}s)`);
      rows.push(row);
      await suite.heal().catch((e: unknown) => say(`heal: ${message(e)}`));
    }
  } finally {
    await close();
  }
  printTable(rows);
  say(`total ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  const recoveries = rows.map((r) => r.recoveryS).filter((r): r is number => r !== undefined);
  const passed = rows.filter((r) => r.passed).length;
  console.log(
    JSON.stringify({
      scenarios: rows.length,
      passed,
      max_recovery_s: recoveries.length ? Math.max(...recoveries) : null,
    }),
  );
  return passed === rows.length ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`chaos suite failed: ${message(err)}`);
    console.log(JSON.stringify({ scenarios: 0, passed: 0, max_recovery_s: null }));
    process.exit(1);
  },
);
