/** The shape of one `mlo` command in the command table. */
import type { ExitCode } from '../lib/core/errors';

export type ParsedArgs = {
  /** --flag value / --flag=value / --flag (boolean) */
  flags: Record<string, string | boolean>;
  positionals: string[];
};

export type FlagSpec = { name: string; value?: string; description: string; default?: string };

export type Command = {
  name: string;
  summary: string;
  usage: string;
  flags: FlagSpec[];
  /** More help text: subcommands, behaviour, exit codes (one string per line). */
  details?: string[];
  /** Returns the process exit code. Throw an MloError for failures. */
  run(args: ParsedArgs): Promise<ExitCode>;
};
