/** A tiny `--name value` / `--name=value` / `--flag` parser for the benchmarks: unknown flags are errors. */
type FlagSpec = Record<string, { kind: 'int' | 'string' | 'bool'; default: number | string | boolean; help: string }>;

export type ParsedFlags<S extends FlagSpec> = { [K in keyof S]: S[K]['default'] };

export class UsageError extends Error {}

function parseFlags<S extends FlagSpec>(argv: readonly string[], spec: S): ParsedFlags<S> {
  const out: Record<string, number | string | boolean> = {};
  for (const [k, v] of Object.entries(spec)) out[k] = v.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!m) throw new UsageError(`unexpected argument "${arg}"`);
    const name = m[1]!;
    const s = spec[name];
    if (!s)
      throw new UsageError(
        `unknown flag --${name}; known: ${Object.keys(spec)
          .map((k) => `--${k}`)
          .join(', ')}`,
      );
    if (s.kind === 'bool') {
      if (m[2] !== undefined && !/^(true|false)$/.test(m[2]))
        throw new UsageError(`--${name} takes no value (or =true / =false)`);
      out[name] = m[2] !== 'false';
      continue;
    }
    const raw = m[2] ?? argv[++i];
    if (raw === undefined) throw new UsageError(`--${name} needs a value`);
    if (s.kind === 'int') {
      const x = Number(raw.replace(/_/g, ''));
      if (!Number.isSafeInteger(x)) throw new UsageError(`--${name} ${raw}: expected a whole number`);
      out[name] = x;
    } else out[name] = raw;
  }
  return out as ParsedFlags<S>;
}

function usage(spec: FlagSpec): string {
  return Object.entries(spec)
    .map(
      ([k, v]) =>
        `  --${k}${v.kind === 'bool' ? '' : ` <${v.kind}>`}`.padEnd(26) + `${v.help} (default ${String(v.default)})`,
    )
    .join('\n');
}

/**
 * A benchmark's flags, or the exit code when there is nothing to run: one of `help` (default
 * `--help`) prints the usage and gives 0; a usage error (from parsing or from `check`) prints
 * the message and the usage and gives 2.
 */
export function flagsOrExitCode<S extends FlagSpec>(
  bench: string,
  spec: S,
  argv: readonly string[],
  opts: { help?: readonly string[]; check?: (flags: ParsedFlags<S>) => void } = {},
): ParsedFlags<S> | number {
  const text = `usage: npm run bench -- ${bench} [flags]\n${usage(spec)}`;
  if ((opts.help ?? ['--help']).some((h) => argv.includes(h))) {
    console.log(text);
    return 0;
  }
  try {
    const flags = parseFlags(argv, spec);
    opts.check?.(flags);
    return flags;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n${text}`);
    return 2;
  }
}
