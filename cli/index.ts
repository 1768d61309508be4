/**
 * The `mlo` command: one command table, one top-level catch that maps typed errors to
 * the documented exit codes (see EXIT_CODES in lib/errors.ts and the README).
 */
import { EXIT_CODES, isMloError } from '../lib/errors';
import { parseArgs } from './args';
import type { Command } from './command';
import { genDataCommand } from './commands/gen-data';

export const COMMANDS: Command[] = [genDataCommand];

function commandHelp(cmd: Command): string {
  const width = Math.max(0, ...cmd.flags.map((f) => `--${f.name}${f.value ? ` ${f.value}` : ''}`.length));
  const lines = cmd.flags.map((f) => {
    const left = `--${f.name}${f.value ? ` ${f.value}` : ''}`.padEnd(width);
    return `  ${left}  ${f.description}${f.default !== undefined ? ` (default: ${f.default})` : ''}`;
  });
  return [`mlo ${cmd.name} — ${cmd.summary}`, '', `usage: ${cmd.usage}`, '', 'options:', ...lines, `  ${'--help'.padEnd(width)}  show this help`].join('\n');
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
    'exit codes: 0 success, 1 internal error, 2 bad input, 3 rejected, 4 gate failed, 5 infrastructure unreachable',
  ].join('\n');
}

export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(topHelp());
    return name ? EXIT_CODES.ok : EXIT_CODES.badInput;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    console.error(`mlo: unknown command "${name}"\n\n${topHelp()}`);
    return EXIT_CODES.badInput;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(commandHelp(cmd));
    return EXIT_CODES.ok;
  }
  try {
    return await cmd.run(parseArgs(rest, cmd));
  } catch (err) {
    if (isMloError(err)) {
      console.error(`mlo ${cmd.name}: ${err.message}`);
      return err.exitCode;
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
