import { BadInputError } from '../lib/core/errors';
import type { Command, ParsedArgs } from './command';

/** Parses argv against a command's declared flags; an unknown flag is a BadInputError naming it. */
export function parseArgs(argv: string[], cmd: Pick<Command, 'name' | 'flags'>): ParsedArgs {
  const known = new Map(cmd.flags.map((f) => [f.name, f]));
  const flags: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
    const spec = known.get(name);
    if (!spec)
      throw new BadInputError(`unknown option --${name} for \`mlo ${cmd.name}\`; see \`mlo ${cmd.name} --help\``);
    if (!spec.value) {
      if (eq >= 0) throw new BadInputError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--')))
      throw new BadInputError(`--${name} needs a value: --${name} ${spec.value}`);
    flags[name] = value;
  }
  return { flags, positionals };
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === 'string' ? v : undefined;
}

export function intFlag(
  args: ParsedArgs,
  name: string,
  dflt: number,
  opts: { min?: number; max?: number } = {},
): number {
  const v = stringFlag(args, name);
  if (v === undefined) return dflt;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n)) throw new BadInputError(`--${name} must be a whole number, got "${v}"`);
  if (opts.min !== undefined && n < opts.min)
    throw new BadInputError(`--${name} must be at least ${opts.min}, got ${n}`);
  if (opts.max !== undefined && n > opts.max)
    throw new BadInputError(`--${name} must be at most ${opts.max}, got ${n}`);
  return n;
}

export function boolFlag(args: ParsedArgs, name: string): boolean {
  return args.flags[name] === true;
}
