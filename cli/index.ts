/**
 * The `mlo` command: one command table, one top-level catch that maps typed errors to
 * the documented exit codes (see EXIT_CODES in lib/errors.ts and the README).
 */
import type { Config } from '../lib/config';
import { EXIT_CODES } from '../lib/errors';
import { parseArgs } from './args';
import type { Command } from './command';
import type * as TrainAndPromoteModule from './commands/train-and-promote';
import type * as StatusModule from './commands/status';
import type * as ListModule from './commands/list';
import type * as DecideModule from './commands/decide';
import type * as RollbackModule from './commands/rollback';
import type * as AuditModule from './commands/audit';
import type * as BackfillModule from './commands/backfill';
import type * as SchedulesModule from './commands/schedules';
import type * as ModelsModule from './commands/models';
import type * as GenDataModule from './commands/gen-data';
import type * as ConfigModule from '../lib/config';
import type * as ContextModule from './context';

/* eslint-disable @typescript-eslint/no-require-imports -- commands load lazily (require, since bin/mlo.cjs registers tsx's CommonJS hook only), so `mlo --help` and each command pay only for what they use */
/**
 * The command table: name and summary for `mlo --help`; `load` brings in the command (its
 * flags, help and run) only when it is used.
 */
export type CommandEntry = { name: string; summary: string; load: () => Promise<Command> };

/**
 * require() under tsx's CommonJS hook (bin/mlo.cjs); import() where require cannot load
 * TypeScript (vitest, which runs runCli in unit tests).
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

export const COMMANDS: CommandEntry[] = [
  { name: 'train-and-promote', summary: 'train a model on a data window and take it through the gates to a reviewer', load: lazy(() => (require('./commands/train-and-promote') as typeof TrainAndPromoteModule).trainAndPromoteCommand, async () => (await import('./commands/train-and-promote')).trainAndPromoteCommand) },
  { name: 'status', summary: 'show where a run stands (stages, windows, candidate, links); a model name means its latest run', load: lazy(() => (require('./commands/status') as typeof StatusModule).statusCommand, async () => (await import('./commands/status')).statusCommand) },
  { name: 'list', summary: 'list recent runs, or the promotions and rollbacks awaiting approval (--pending)', load: lazy(() => (require('./commands/list') as typeof ListModule).listCommand, async () => (await import('./commands/list')).listCommand) },
  { name: 'approve', summary: 'approve a pending promotion (or rollback): moves the champion alias', load: lazy(() => (require('./commands/decide') as typeof DecideModule).approveCommand, async () => (await import('./commands/decide')).approveCommand) },
  { name: 'reject', summary: 'reject a pending promotion (or rollback): nothing moves, the reason is audited', load: lazy(() => (require('./commands/decide') as typeof DecideModule).rejectCommand, async () => (await import('./commands/decide')).rejectCommand) },
  { name: 'rollback', summary: "move a model's champion alias back to a former champion (reviewed, or --emergency)", load: lazy(() => (require('./commands/rollback') as typeof RollbackModule).rollbackCommand, async () => (await import('./commands/rollback')).rollbackCommand) },
  { name: 'audit', summary: "show a model's audit trail: alias moves, approvals, rejections, refusals (oldest first)", load: lazy(() => (require('./commands/audit') as typeof AuditModule).auditCommand, async () => (await import('./commands/audit')).auditCommand) },
  { name: 'backfill', summary: "compute a model's point-in-time feature snapshot for a day range", load: lazy(() => (require('./commands/backfill') as typeof BackfillModule).backfillCommand, async () => (await import('./commands/backfill')).backfillCommand) },
  { name: 'schedules', summary: 'scheduled retraining: sync the Temporal Schedules with the specs, list, pause, unpause, trigger, backfill', load: lazy(() => (require('./commands/schedules') as typeof SchedulesModule).schedulesCommand, async () => (await import('./commands/schedules')).schedulesCommand) },
  { name: 'models', summary: 'validate model specs: `mlo models validate [file…]`', load: lazy(() => (require('./commands/models') as typeof ModelsModule).modelsCommand, async () => (await import('./commands/models')).modelsCommand) },
  { name: 'gen-data', summary: 'write the synthetic card-payments and chargebacks dataset (Arrow, day partitions)', load: lazy(() => (require('./commands/gen-data') as typeof GenDataModule).genDataCommand, async () => (await import('./commands/gen-data')).genDataCommand) },
];
/* eslint-enable @typescript-eslint/no-require-imports */

export const EXIT_CODE_HELP = [
  'exit codes:',
  '  0  success: promoted, or started/detached, or shown',
  '  1  internal error (a bug, or a run that failed for another reason)',
  '  2  bad input: a flag, a model spec, a refused decision, or a run failing with MloBadInput',
  '  3  rejected by a reviewer, or expired',
  '  4  an evaluation or shadow gate failed',
  '  5  infrastructure unreachable (Temporal, S3, MLflow)',
];

export function commandHelp(cmd: Command): string {
  const label = (f: Command['flags'][number]) => `--${f.name}${f.value ? ` ${f.value}` : ''}`;
  const width = Math.max(6, ...cmd.flags.map((f) => label(f).length));
  const lines = cmd.flags.map((f) => `  ${label(f).padEnd(width)}  ${f.description}${f.default !== undefined ? ` (default: ${f.default})` : ''}`);
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

export function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'mlo — a durable orchestrator for the offline ML lifecycle',
    '',
    'usage: mlo <command> [options]      mlo <command> --help',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'configuration: MLO_* environment variables (see README); MLO_MODELS_DIR points at the model specs, MLO_USER names you.',
    '',
    ...EXIT_CODE_HELP,
  ].join('\n');
}

const loadConfigModule = lazy(() => require('../lib/config') as typeof ConfigModule, () => import('../lib/config')); // eslint-disable-line @typescript-eslint/no-require-imports
const loadContextModule = lazy(() => require('./context') as typeof ContextModule, () => import('./context')); // eslint-disable-line @typescript-eslint/no-require-imports

async function configOrUndefined(): Promise<Config | undefined> {
  try {
    return (await loadConfigModule()).loadConfig();
  } catch {
    return undefined;
  }
}

export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    console.log(topic ? commandHelp(await topic.load()) : topHelp());
    return name ? EXIT_CODES.ok : EXIT_CODES.badInput;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    console.error(`mlo: unknown command "${name}"\n\n${topHelp()}`);
    return EXIT_CODES.badInput;
  }
  const cmd = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(commandHelp(cmd));
    return EXIT_CODES.ok;
  }
  try {
    return await cmd.run(parseArgs(rest, cmd));
  } catch (err) {
    const { asMloError } = await loadContextModule();
    const known = asMloError(err, await configOrUndefined());
    if (known) {
      console.error(`mlo ${cmd.name}: ${known.message}`);
      return known.exitCode;
    }
    console.error(`mlo ${cmd.name}: unexpected error`, err);
    return EXIT_CODES.internal;
  }
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
