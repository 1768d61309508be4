/**
 * The `mlo` command: one command table, one top-level catch that maps typed errors to
 * the documented exit codes (see EXIT_CODES in lib/errors.ts and the README).
 */
import type { Config } from '../lib/infra/config';
import { EXIT_CODES } from '../lib/core/errors';
import { parseArgs } from './args';
import type { Command } from './command';
import type * as ConfigModule from '../lib/infra/config';
import type * as ContextModule from './context';
import type * as TemporalConfigModule from '../lib/infra/temporal-config';
import type * as ObservabilityConfigModule from '../lib/observability/config';
import type * as ObservabilityClientModule from '../lib/observability/client';

/**
 * The command table: name and summary for `mlo --help`; `load` brings in the command (its
 * flags, help and run) only when it is used, so `mlo --help` and each command pay only for
 * what they use.
 */
type CommandEntry = { name: string; summary: string; load: () => Promise<Command> };

/**
 * require() under tsx's CommonJS hook (bin/mlo.cjs registers only that one); import() where
 * require cannot load TypeScript (vitest, which runs runCli in unit tests).
 */
function lazy<T>(req: () => T, imp: () => Promise<T>): () => Promise<T> {
  return async () => {
    try {
      return req();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
      return imp();
    }
  };
}

/** A command module under cli/commands/ and the name of its exported Command. */
function command(name: string, file: string, exported: string, summary: string): CommandEntry {
  const path = `./commands/${file}`;
  const pick = (mod: unknown): Command => {
    const cmd = (mod as Record<string, Command | undefined>)[exported];
    if (!cmd) throw new Error(`cli/commands/${file}.ts exports no command named ${exported}`);
    return cmd;
  };
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- see lazy()
  const required = () => pick(require(path));
  const load = lazy(required, async () => pick(await import(path)));
  return { name, summary, load };
}

// prettier-ignore
const COMMANDS: CommandEntry[] = [
  command('train-and-promote', 'train-and-promote', 'trainAndPromoteCommand', 'train a model on a data window and take it through the gates to a reviewer'),
  command('status', 'status', 'statusCommand', 'show where a run stands (stages, windows, candidate, links); a model name means its latest run'),
  command('list', 'list', 'listCommand', 'list recent runs, or the promotions and rollbacks awaiting approval (--pending)'),
  command('fleet', 'fleet', 'fleetCommand', "every model's champion, last run, next scheduled run and pending approval (--failing, --stale, --pending)"),
  command('approve', 'decide', 'approveCommand', 'approve a pending promotion (or rollback): moves the champion alias'),
  command('reject', 'decide', 'rejectCommand', 'reject a pending promotion (or rollback): nothing moves, the reason is audited'),
  command('rollback', 'rollback', 'rollbackCommand', "move a model's champion alias back to a former champion (reviewed, or --emergency)"),
  command('audit', 'audit', 'auditCommand', "show a model's audit trail: alias moves, approvals, rejections, refusals (oldest first)"),
  command('plan', 'plan', 'planCommand', 'show what a train-and-promote run would do (windows, partitions, lookback, labels) before it runs'),
  command('backfill', 'backfill', 'backfillCommand', "compute a model's point-in-time feature snapshot for a day range"),
  command('schedules', 'schedules', 'schedulesCommand', 'scheduled retraining: sync the Temporal Schedules with the specs, list, pause, unpause, trigger, backfill'),
  command('data', 'data', 'dataCommand', "check a model's raw data against its spec (`mlo data check`): columns, nulls, duplicates, days, lateness"),
  command('models', 'models', 'modelsCommand', 'validate model specs: `mlo models validate [file…]`'),
  command('gen-data', 'gen-data', 'genDataCommand', 'write the synthetic card-payments and chargebacks dataset (Arrow, day partitions)'),
  command('login', 'identity', 'loginCommand', 'sign in (OpenID Connect, authorization code with PKCE in your browser); the tokens are cached'),
  command('logout', 'identity', 'logoutCommand', 'forget the cached sign-in of `mlo login`'),
  command('whoami', 'identity', 'whoamiCommand', 'show who you are signed in as: subject, e-mail, groups'),
  command('doctor', 'doctor', 'doctorCommand', 'check the connections to Temporal, S3, MLflow and the identity provider'),
];

/** Connection flags every command takes (before or after its own): they win over the environment and the profile. */
const TEMPORAL_FLAGS = {
  '--temporal-address': 'address',
  '--temporal-namespace': 'namespace',
  '--temporal-profile': 'profile',
} as const;

/** Takes the Temporal connection flags out of argv; a flag without a value is bad input. */
export function takeTemporalFlags(argv: string[]): {
  rest: string[];
  flags: Partial<Record<'address' | 'namespace' | 'profile', string>>;
  error?: string;
} {
  const rest: string[] = [];
  const flags: Partial<Record<'address' | 'namespace' | 'profile', string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [name, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const key = TEMPORAL_FLAGS[name as keyof typeof TEMPORAL_FLAGS];
    if (!key) {
      rest.push(a);
      continue;
    }
    const value = inline ?? argv[++i];
    if (!value || value.startsWith('--'))
      return {
        rest,
        flags,
        error: `${name} needs a value, e.g. ${name} ${key === 'address' ? 'temporal.example.com:7233' : key === 'namespace' ? 'ml-prod' : 'prod'}`,
      };
    flags[key] = value;
  }
  return { rest, flags };
}

const EXIT_CODE_HELP = [
  'exit codes:',
  '  0  success: promoted, or started/detached, or shown',
  '  1  internal error (a bug, or a run that failed for another reason)',
  '  2  bad input: a flag, a model spec, a refused decision or call, not signed in (run `npx mlo login`),',
  '     or a run failing with MloBadInput',
  '  3  rejected by a reviewer, or expired',
  '  4  an evaluation, shadow or data gate failed',
  '  5  infrastructure unreachable (Temporal, S3, MLflow, the identity provider)',
];

function commandHelp(cmd: Command): string {
  const label = (f: Command['flags'][number]) => `--${f.name}${f.value ? ` ${f.value}` : ''}`;
  const width = Math.max(6, ...cmd.flags.map((f) => label(f).length));
  const lines = cmd.flags.map(
    (f) => `  ${label(f).padEnd(width)}  ${f.description}${f.default !== undefined ? ` (default: ${f.default})` : ''}`,
  );
  return [
    `mlo ${cmd.name} — ${cmd.summary}`,
    '',
    `usage: ${cmd.usage}`,
    ...(cmd.details?.length ? ['', ...cmd.details] : []),
    '',
    'options:',
    ...lines,
    `  ${'--help'.padEnd(width)}  show this help`,
  ].join('\n');
}

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'mlo — a durable orchestrator for the offline ML lifecycle',
    '',
    'usage: mlo <command> [options]      mlo <command> --help',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'configuration: MLO_* environment variables (see README); MLO_MODELS_DIR points at the model specs.',
    'Temporal: --temporal-address, --temporal-namespace, --temporal-profile (any command) come first; then',
    'MLO_TEMPORAL_*/TEMPORAL_*, the Temporal profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE), and the dev stack.',
    '`mlo doctor` checks them all.',
    'identity: `mlo login` signs you in (or MLO_TOKEN holds a token); you request runs and decide as yourself.',
    '',
    ...EXIT_CODE_HELP,
  ].join('\n');
}

/* eslint-disable @typescript-eslint/no-require-imports -- see lazy() */
const loadConfigModule = lazy(
  () => require('../lib/infra/config') as typeof ConfigModule,
  () => import('../lib/infra/config'),
);
const loadTemporalConfigModule = lazy(
  () => require('../lib/infra/temporal-config') as typeof TemporalConfigModule,
  () => import('../lib/infra/temporal-config'),
);
const loadContextModule = lazy(
  () => require('./context') as typeof ContextModule,
  () => import('./context'),
);
const loadObservabilityConfig = lazy(
  () => require('../lib/observability/config') as typeof ObservabilityConfigModule,
  () => import('../lib/observability/config'),
);
const loadObservabilityClient = lazy(
  () => require('../lib/observability/client') as typeof ObservabilityClientModule,
  () => import('../lib/observability/client'),
);
/* eslint-enable @typescript-eslint/no-require-imports */

async function configOrUndefined(): Promise<Config | undefined> {
  try {
    return (await loadConfigModule()).loadConfig();
  } catch {
    return undefined;
  }
}

export async function runCli(argv: string[]): Promise<number> {
  const taken = takeTemporalFlags(argv);
  if (taken.error) {
    console.error(`mlo: ${taken.error}`);
    return EXIT_CODES.badInput;
  }
  (await loadTemporalConfigModule()).setTemporalFlags(taken.flags);
  const [name, ...rest] = taken.rest;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    console.log(topic ? commandHelp(await topic.load()) : topHelp());
    return name ? EXIT_CODES.ok : EXIT_CODES.badInput;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    console.error(`mlo: unknown command "${name}"\n\n${topHelp()}`);
    if (rest.includes('--json'))
      printJsonError(name, 'BAD_INPUT', `unknown command "${name}"; see \`mlo --help\``, EXIT_CODES.badInput);
    return EXIT_CODES.badInput;
  }
  const cmd = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(commandHelp(cmd));
    return EXIT_CODES.ok;
  }
  const json = cmd.flags.some((f) => f.name === 'json') && rest.includes('--json');
  try {
    const args = parseArgs(rest, cmd);
    const { tracesExporter } = await loadObservabilityConfig();
    if (!tracesExporter()) return await cmd.run(args);
    // Tracing configured: the command is the root span of whatever it starts (lib/observability/client.ts).
    const { withClientSpan } = await loadObservabilityClient();
    return await withClientSpan(`mlo ${cmd.name}`, () => cmd.run(args));
  } catch (err) {
    const { asMloError } = await loadContextModule();
    const known = asMloError(err, await configOrUndefined());
    if (known) {
      console.error(`mlo ${cmd.name}: ${known.message}`);
      if (json) printJsonError(cmd.name, known.code, known.message, known.exitCode, problemsOf(known));
      return known.exitCode;
    }
    console.error(`mlo ${cmd.name}: unexpected error`, err);
    if (json)
      printJsonError(cmd.name, 'INTERNAL', err instanceof Error ? err.message : String(err), EXIT_CODES.internal);
    return EXIT_CODES.internal;
  }
}

function problemsOf(err: Error): string[] | undefined {
  const problems = (err as { problems?: unknown }).problems;
  return Array.isArray(problems) ? (problems as string[]) : undefined;
}

/**
 * With --json, a command that fails before its result (a bad flag, not signed in, a service out
 * of reach, a refusal) still prints one JSON object on stdout: the error and the exit code.
 */
function printJsonError(command: string, code: string, message: string, exitCode: number, problems?: string[]): void {
  const error = { code, message, ...(problems ? { problems } : {}) };
  console.log(JSON.stringify({ command, error, exitCode }, null, 2));
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(EXIT_CODES.internal);
    },
  );
}
