import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../cli/index';
import { endDayFlag } from '../../cli/context';
import { BadInputError, EXIT_CODES } from '../../lib/core/errors';

/** Runs the CLI in-process, collecting what it prints on stdout and stderr. */
async function mlo(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const code = await runCli(argv);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

afterEach(() => vi.restoreAllMocks());

describe('--to in the future', () => {
  const now = new Date('2026-03-13T22:00:00Z');
  const args = (to: string) => ({ flags: { to }, positionals: [] });

  it('is refused, naming today (UTC) and the latest day allowed', () => {
    expect(() => endDayFlag(args('2026-03-14'), 'to', 'the as-of day, the exclusive end of the data', now)).toThrow(
      new BadInputError(
        '--to 2026-03-14 is in the future (today is 2026-03-13, UTC); it is the as-of day, the exclusive end of ' +
          'the data, so at most today: --to 2026-03-13 uses the data up to the end of yesterday',
      ),
    );
  });

  it('today and earlier days are accepted', () => {
    expect(endDayFlag(args('2026-03-13'), 'to', 'x', now)).toBe('2026-03-13');
    expect(endDayFlag(args('2025-12-31'), 'to', 'x', now)).toBe('2025-12-31');
    expect(endDayFlag({ flags: {}, positionals: [] }, 'to', 'x', now)).toBeUndefined();
  });

  it('train-and-promote refuses it before signing in: exit 2', async () => {
    const r = await mlo(['train-and-promote', '--model', 'fraud-detector', '--to', '2999-01-01']);
    expect(r.code).toBe(EXIT_CODES.badInput);
    expect(r.stderr).toMatch(
      /^mlo train-and-promote: --to 2999-01-01 is in the future \(today is \d{4}-\d\d-\d\d, UTC\)/,
    );
    expect(r.stdout).toBe('');
  });
});

describe('--json on a command-line error', () => {
  it('prints one JSON object on stdout with the error and the exit code', async () => {
    const r = await mlo(['train-and-promote', '--model', 'fraud-detector', '--to', '2999-01-01', '--json']);
    expect(r.code).toBe(EXIT_CODES.badInput);
    expect(JSON.parse(r.stdout)).toEqual({
      command: 'train-and-promote',
      error: { code: 'BAD_INPUT', message: expect.stringMatching(/^--to 2999-01-01 is in the future/) as unknown },
      exitCode: 2,
    });
  });

  it('covers unknown flags, missing flags and bad specs too', async () => {
    const unknown = await mlo(['status', 'fraud-detector', '--bogus', '--json']);
    expect(unknown.code).toBe(EXIT_CODES.badInput);
    expect(JSON.parse(unknown.stdout)).toMatchObject({
      command: 'status',
      error: { code: 'BAD_INPUT', message: 'unknown option --bogus for `mlo status`; see `mlo status --help`' },
      exitCode: 2,
    });
    const missing = await mlo(['backfill', '--json']);
    expect(JSON.parse(missing.stdout)).toMatchObject({
      command: 'backfill',
      error: { code: 'BAD_INPUT' },
      exitCode: 2,
    });
    const model = await mlo(['train-and-promote', '--model', 'no-such-model', '--json']);
    expect(model.code).toBe(EXIT_CODES.badInput);
    expect(JSON.parse(model.stdout)).toMatchObject({
      error: { message: expect.stringMatching(/no-such-model/) as unknown },
    });
  });

  it('covers an unknown command', async () => {
    const r = await mlo(['aprove', 'fraud-detector', '--json']);
    expect(r.code).toBe(EXIT_CODES.badInput);
    expect(JSON.parse(r.stdout)).toEqual({
      command: 'aprove',
      error: { code: 'BAD_INPUT', message: 'unknown command "aprove"; see `mlo --help`' },
      exitCode: 2,
    });
  });

  it('without --json, nothing is printed on stdout', async () => {
    const r = await mlo(['status', 'fraud-detector', '--bogus']);
    expect(r.code).toBe(EXIT_CODES.badInput);
    expect(r.stdout).toBe('');
  });
});

describe('mlo status of a promotion', () => {
  it('shows each refusal with how it came, and the refusals beyond the limits or not audited', async () => {
    const { renderDecision } = await import('../../cli/commands/status');
    const at = '2026-03-13T10:00:00.000Z';
    const lines = renderDecision({
      workflowId: 'promotion/fraud-detector',
      runId: 'r',
      type: 'promotion',
      status: 'RUNNING',
      result: null,
      links: { temporal: 'http://ui' },
      state: {
        model: 'fraud-detector',
        candidateVersion: '7',
        requestedBy: 'carol@example.com',
        reviewers: ['alice@example.com'],
        deadline: at,
        status: 'awaiting-approval',
        summary: '',
        refusals: [
          { at, via: 'update', kind: 'approve', reviewer: 'carol@example.com', reason: 'four eyes' },
          {
            at,
            via: 'signal',
            kind: 'unknown',
            name: 'Approve',
            reviewer: 'alice@example.com',
            reason: 'not a decision',
          },
        ],
        refusalsNotRecorded: 3,
        refusalsNotAudited: 1,
      },
    });
    expect(lines).toContain(`  refused approve (update) by carol@example.com at ${at}: four eyes`);
    expect(lines).toContain(`  refused signal "Approve" by alice@example.com at ${at}: not a decision`);
    expect(lines).toContain('  3 more refused decision(s) beyond the refusal limits, not recorded');
    expect(lines).toContain('  1 refused decision(s) whose audit record could not be written');
  });
});
