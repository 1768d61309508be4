import { describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, ActivityFailure, RetryState } from '@temporalio/common';
import { BadInputError, UnreachableError } from '../../lib/core/errors';
import { AuthError } from '../../lib/identity/errors';
import { loadConfig } from '../../lib/infra/config';
import { findModelSpec, specHash } from '../../lib/spec/model-spec';
import { featureSetFromSpec } from '../../lib/features/featureset';
import { auditRows } from '../../cli/commands/audit';
import { listQuery, stageColumn } from '../../cli/commands/list';
import { asMloError, mustBeMe, type Me } from '../../cli/context';
import type { ParsedArgs } from '../../cli/command';
import {
  changedStageLines,
  eraseLines,
  fitLine,
  formatElapsed,
  LiveView,
  renderStages,
  shellArg,
  stageLine,
  table,
  visibleLength,
} from '../../cli/render';
import { decisionCommands, exitCodeFor, failureInfo, modelRunsFilter, windowsOf } from '../../cli/runs';
import type { StageProgress } from '../../lib/core/definitions';
import { modelOfWorkflowId } from '../../lib/core/ids';

const T0 = Date.parse('2026-03-15T10:00:00.000Z');

describe('render helpers', () => {
  it('formats elapsed times', () => {
    expect(formatElapsed(0)).toBe('0s');
    expect(formatElapsed(59_999)).toBe('59s');
    expect(formatElapsed(62_000)).toBe('1m02s');
    expect(formatElapsed(3 * 3600_000 + 4 * 60_000)).toBe('3h04m');
    expect(formatElapsed(50 * 3600_000)).toBe('2d02h');
  });

  it('aligns table columns and leaves the last one unpadded', () => {
    expect(
      table(
        ['A', 'BB', 'C'],
        [
          ['xxx', 'y', 'z'],
          ['', 'long cell', ''],
        ],
      ),
    ).toEqual(['A    BB         C', 'xxx  y          z', '     long cell']);
  });

  it('renders the stage table with progress, elapsed time and messages', () => {
    const stages: StageProgress[] = [
      {
        stage: 'featureBackfill',
        status: 'running',
        startedAt: new Date(T0 - 62_000).toISOString(),
        progress: { done: 12, total: 60, unit: 'partitions' },
      },
      { stage: 'training', status: 'pending' },
      {
        stage: 'promotion',
        status: 'failed',
        startedAt: new Date(T0 - 5000).toISOString(),
        endedAt: new Date(T0 - 2000).toISOString(),
        message: 'boom',
      },
    ];
    const lines = renderStages(stages, T0);
    expect(lines[0]).toMatch(/^ {3}stage +status +progress +elapsed$/);
    expect(lines[1]).toMatch(/▶ featureBackfill +running +partitions 12\/60 +1m02s$/);
    expect(lines[2]).toMatch(/· training +pending$/);
    expect(lines[3]).toMatch(/✗ promotion +failed +3s +boom$/);
    const coloured = renderStages(stages, T0, { color: true })[1] ?? '';
    expect(coloured.startsWith('\x1b[36m') && coloured.endsWith('\x1b[0m')).toBe(true);
  });

  it('prints one plain line per change, and nothing for stages that stay pending', () => {
    const seen = new Map<string, string>();
    const s: StageProgress[] = [
      { stage: 'featureBackfill', status: 'running', progress: { done: 1, total: 4, unit: 'partitions' } },
      { stage: 'training', status: 'pending' },
    ];
    expect(changedStageLines(s, seen, T0)).toEqual(['featureBackfill running   partitions 1/4']);
    expect(changedStageLines(s, seen, T0)).toEqual([]);
    s[0] = { stage: 'featureBackfill', status: 'running', progress: { done: 2, total: 4, unit: 'partitions' } };
    expect(changedStageLines(s, seen, T0)).toEqual(['featureBackfill running   partitions 2/4']);
    expect(
      stageLine(
        {
          stage: 'training',
          status: 'succeeded',
          startedAt: new Date(T0 - 2000).toISOString(),
          endedAt: new Date(T0).toISOString(),
          message: 'ok',
        },
        T0,
      ),
    ).toBe('training        succeeded (2s) — ok');
  });
});

describe('terminal output', () => {
  it('fits lines to the terminal width without counting colour codes', () => {
    expect(fitLine('abcdef', 4)).toBe('abc…');
    expect(fitLine('abc', 4)).toBe('abc');
    const coloured = '\x1b[32mabcdef\x1b[0m';
    expect(visibleLength(coloured)).toBe(6);
    expect(visibleLength(fitLine(coloured, 4))).toBe(4);
    expect(fitLine(coloured, 4).endsWith('\x1b[0m')).toBe(true);
  });

  it('redraws in place: moves up over what it drew and clears below', () => {
    let out = '';
    const view = new LiveView({ write: (s: string) => (out += s), columns: 80 });
    view.draw(['one', 'two']);
    expect(out).toBe('one\ntwo\n');
    out = '';
    view.draw(['three']);
    expect(out).toBe(`${eraseLines(2)}three\n`);
    expect(eraseLines(2)).toBe('\x1b[2F\x1b[0J');
    view.done();
    out = '';
    view.draw(['four']);
    expect(out).toBe('four\n');
  });

  it('quotes shell arguments only when needed', () => {
    expect(shellArg('train-and-promote/m/2026-03-15')).toBe('train-and-promote/m/2026-03-15');
    expect(shellArg("it's")).toBe(`'it'\\''s'`);
    expect(decisionCommands('promotion/m')).toEqual({
      approve: 'mlo approve promotion/m',
      reject: 'mlo reject promotion/m --reason "<why>"',
    });
  });
});

describe('run outcomes', () => {
  it('maps outcomes to the documented exit codes', () => {
    expect(exitCodeFor('promoted')).toBe(0);
    expect(exitCodeFor('started')).toBe(0);
    expect(exitCodeFor('rejected')).toBe(3);
    expect(exitCodeFor('expired')).toBe(3);
    expect(exitCodeFor('gate-failed')).toBe(4);
    expect(exitCodeFor('failed', 'MloBadInput')).toBe(2);
    expect(exitCodeFor('failed', 'MloUnavailable')).toBe(1);
    expect(exitCodeFor('terminated')).toBe(1);
  });

  it('finds the failed stage and the root failure type of a workflow failure', () => {
    const root = ApplicationFailure.create({
      type: 'MloBadInput',
      message: 'no events for 2026-01-01',
      nonRetryable: true,
    });
    const activity = new ActivityFailure(
      'activity failed',
      'planFeatureBackfill',
      '1',
      RetryState.NON_RETRYABLE_FAILURE,
      'id',
      root,
    );
    const stage = ApplicationFailure.create({
      type: 'MloStageFailed',
      message: 'stage featureBackfill failed: no events',
      details: [{ stage: 'featureBackfill', type: 'MloBadInput' }],
      cause: activity,
    });
    expect(
      failureInfo(new WorkflowFailedError('Workflow execution failed', stage, RetryState.NON_RETRYABLE_FAILURE)),
    ).toEqual({ stage: 'featureBackfill', type: 'MloBadInput', message: 'no events for 2026-01-01' });
    const noDetails = ApplicationFailure.create({
      type: 'MloStageFailed',
      message: 'x',
      cause: ApplicationFailure.create({ type: 'MloUnavailable', message: 'down' }),
    });
    expect(failureInfo(noDetails)).toMatchObject({ type: 'MloUnavailable', message: 'down' });
  });

  it("resolves a run's windows as the workflow does: given as-of, else the scheduled day, else the start day", () => {
    const { spec } = findModelSpec('fraud-detector');
    const input = {
      model: spec.name,
      spec,
      specHash: specHash(spec),
      featureSet: featureSetFromSpec(spec),
      requestedBy: 'mlo-scheduler',
      queues: { cpu: 'c', gpu: 'g' },
    };
    expect(windowsOf({ ...input, asOf: '2026-03-15' }, new Date('2026-04-01T03:00:00Z'), new Date()).asOf).toBe(
      '2026-03-15',
    );
    expect(windowsOf(input, new Date('2026-04-01T03:00:00Z'), new Date('2026-04-02T00:00:00Z'))).toMatchObject({
      asOf: '2026-04-01',
      labelCutoff: '2026-04-01T00:00:00.000Z',
      shadow: { to: '2026-04-01' },
    });
    expect(windowsOf(input, undefined, new Date('2026-04-02T05:00:00Z')).asOf).toBe('2026-04-02');
  });
});

describe('CLI context', () => {
  it('reads the model out of mlo workflow ids', () => {
    expect(modelOfWorkflowId('train-and-promote/fraud-detector/2026-03-15')).toBe('fraud-detector');
    expect(modelOfWorkflowId('promotion/fraud-detector')).toBe('fraud-detector');
    expect(modelOfWorkflowId('rollback/fraud-detector')).toBe('fraud-detector');
    expect(modelOfWorkflowId('something/else')).toBeUndefined();
  });

  it('takes --requested-by / --reviewer only when they name the signed-in user, and names the rule otherwise', () => {
    const me: Me = {
      subject: 'dev-erin',
      email: 'erin@example.com',
      groups: ['mlo-engineers'],
      name: 'erin@example.com',
      expiresAt: new Date(),
    };
    const args = (v?: string): ParsedArgs => ({
      flags: v === undefined ? {} : { 'requested-by': v },
      positionals: [],
    });
    const check = (v?: string) => () => mustBeMe(args(v), 'requested-by', me, 'requested by caller', 'a run is …');
    expect(check()).not.toThrow();
    expect(check('Erin@Example.com')).not.toThrow();
    expect(check('alice@example.com')).toThrow(BadInputError);
    expect(check('alice@example.com')).toThrow(
      'requested by caller: --requested-by "alice@example.com" is not you: you are signed in as erin@example.com',
    );
  });

  it("maps the Temporal server's refusals: a rule to bad input, an authentication failure to `mlo login` (exit 2)", () => {
    const grpc = (code: number, details: string) =>
      new Error('wrapped', {
        cause: Object.assign(new Error(`${code} X: ${details}`), { code, details, metadata: {} }),
      });
    const rule = asMloError(grpc(7, 'mlo: four eyes: erin@example.com requested this run and cannot approve it'));
    expect(rule).toBeInstanceOf(BadInputError);
    expect(rule?.message).toBe(
      'refused by the Temporal server: mlo: four eyes: erin@example.com requested this run and cannot approve it',
    );
    const expired = asMloError(grpc(7, 'mlo: authentication: token expired at 2026-01-01T00:00:00Z'));
    expect(expired).toBeInstanceOf(AuthError);
    expect(expired?.exitCode).toBe(2);
    expect(expired?.message).toContain('Run `npx mlo login`');
    expect(asMloError(grpc(16, 'no token'))).toBeInstanceOf(AuthError);
  });

  it('maps Temporal UNAVAILABLE and socket errors to unreachable (exit 5)', () => {
    const cfg = loadConfig({});
    const grpc = Object.assign(new Error('14 UNAVAILABLE: No connection established'), {
      code: 14,
      details: 'x',
      metadata: {},
    });
    const e = asMloError(new Error('wrapped', { cause: grpc }), cfg);
    expect(e).toBeInstanceOf(UnreachableError);
    expect(e?.exitCode).toBe(5);
    expect(e?.message).toContain('Temporal is unreachable at 127.0.0.1:7233');
    const s3 = asMloError(
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7070'), { code: 'ECONNREFUSED' }),
      cfg,
    );
    expect(s3?.message).toContain('S3 is unreachable');
    expect(asMloError(new Error('a bug'), cfg)).toBeUndefined();
  });
});

describe('list and audit', () => {
  it('builds the visibility queries', () => {
    expect(listQuery({ pending: false })).toBe('WorkflowType = "trainAndPromote"');
    expect(listQuery({ pending: false, model: 'm1' })).toBe(
      `WorkflowType = "trainAndPromote" AND ${modelRunsFilter('m1')}`,
    );
    expect(modelRunsFilter('m1')).toBe('(MloModel = "m1" OR WorkflowId STARTS_WITH "train-and-promote/m1/")');
    expect(listQuery({ pending: true, model: 'm1' })).toBe(
      '(WorkflowType = "promotion" OR WorkflowType = "rollback") AND ExecutionStatus = "Running" AND MloModel = "m1"',
    );
  });

  it('shows the stage of running and failed runs, and only gate-failed for completed ones', () => {
    expect(stageColumn({ status: 'RUNNING', stage: 'training' })).toBe('training');
    expect(stageColumn({ status: 'FAILED', stage: 'training' })).toBe('at training');
    expect(stageColumn({ status: 'COMPLETED', stage: 'awaiting-approval' })).toBe('');
    expect(stageColumn({ status: 'COMPLETED', stage: 'gate-failed' })).toBe('gate-failed');
  });

  it('renders audit records as rows with the champion move', () => {
    expect(
      auditRows([
        {
          model: 'm',
          action: 'rollback',
          actor: 'bob@example.com',
          at: '2026-03-02T10:00:00.123Z',
          version: '1',
          previousChampion: '2',
          newChampion: '1',
          emergency: true,
          reason: 'auc\ndropped',
          workflowId: 'rollback/m',
        },
      ]),
    ).toEqual([
      ['2026-03-02 10:00:00Z', 'rollback (emergency)', 'bob@example.com', '1', '2 → 1', 'auc dropped', 'rollback/m'],
    ]);
  });
});
