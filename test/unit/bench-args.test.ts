import { afterEach, describe, expect, it, vi } from 'vitest';
import { flagsOrExitCode, UsageError } from '../../scripts/bench/lib/args';

const SPEC = {
  rows: { kind: 'int', default: 10, help: 'rows' },
  fast: { kind: 'bool', default: false, help: 'go fast' },
} as const;

describe('flagsOrExitCode', () => {
  afterEach(() => vi.restoreAllMocks());

  it('returns the parsed flags', () => {
    expect(flagsOrExitCode('x', SPEC, ['--rows', '1_000', '--fast'])).toEqual({ rows: 1000, fast: true });
    expect(flagsOrExitCode('x', SPEC, [])).toEqual({ rows: 10, fast: false });
  });

  it('prints the usage for --help (or the given help flags) and gives 0', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    expect(flagsOrExitCode('x', SPEC, ['--help'])).toBe(0);
    expect(log.mock.calls[0]?.[0]).toMatch(
      /^usage: npm run bench -- x \[flags\]\n {2}--rows <int> +rows \(default 10\)/,
    );
    expect(flagsOrExitCode('x', SPEC, ['-h'], { help: ['--help', '-h'] })).toBe(0);
  });

  it('prints a usage error with the usage and gives 2, also for a failed check', () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    expect(flagsOrExitCode('x', SPEC, ['-h'])).toBe(2);
    expect(err.mock.calls[0]?.[0]).toMatch(/^unexpected argument "-h"\nusage: npm run bench -- x/);
    const check = (f: { rows: number }) => {
      if (f.rows < 1) throw new UsageError('--rows must be >= 1');
    };
    expect(flagsOrExitCode('x', SPEC, ['--rows=0'], { check })).toBe(2);
    expect(err.mock.calls[1]?.[0]).toMatch(/^--rows must be >= 1\n/);
  });

  it('lets other errors through', () => {
    expect(() =>
      flagsOrExitCode('x', SPEC, [], {
        check: () => {
          throw new Error('boom');
        },
      }),
    ).toThrow('boom');
  });
});
