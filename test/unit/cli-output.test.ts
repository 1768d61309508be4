import { describe, expect, it } from 'vitest';
import { backfillEndLine, type BackfillReport } from '../../cli/commands/backfill';
import { writtenLines } from '../../cli/commands/gen-data';
import { pendingLines, runLines, type ListedRun } from '../../cli/commands/list';
import type { DatasetManifest, GenerateSummary } from '../../lib/datagen';
import { windowRanges } from '../../cli/runs';

const row = (over: Partial<ListedRun>): ListedRun => ({
  workflowId: 'train-and-promote/m/2026-03-15',
  runId: 'r1',
  type: 'trainAndPromote',
  status: 'RUNNING',
  model: 'm',
  stage: 'training',
  candidateVersion: null,
  requestedBy: 'ann',
  startedAt: '2026-03-15T10:00:00.000Z',
  closedAt: null,
  link: 'http://ui/wf/1',
  ...over,
});

describe('mlo list output', () => {
  it('lists runs with their status and stage, newest first as given', () => {
    expect(
      runLines([row({}), row({ workflowId: 'train-and-promote/m/2026-03-14', status: 'FAILED', stage: 'evaluation' })]),
    ).toEqual([
      'WORKFLOW                        STATUS   STAGE          VERSION  REQUESTED BY  STARTED (UTC)',
      'train-and-promote/m/2026-03-15  running  training                ann           2026-03-15 10:00:00',
      'train-and-promote/m/2026-03-14  failed   at evaluation           ann           2026-03-15 10:00:00',
    ]);
  });

  it('lists pending decisions with how to decide and their Temporal UI links', () => {
    const r = row({
      workflowId: 'promotion/m',
      type: 'promotion',
      candidateVersion: '3',
      stage: 'awaiting-approval',
      link: 'http://ui/promotion/m',
    });
    expect(pendingLines([r])).toEqual([
      'WORKFLOW     MODEL  VERSION  REQUESTED BY  STAGE              STARTED (UTC)',
      'promotion/m  m      3        ann           awaiting-approval  2026-03-15 10:00:00',
      '\ndecide, signed in as a reviewer (`mlo login`), with `mlo approve <workflow>` or ' +
        '`mlo reject <workflow> --reason "…"`',
      'review in the Temporal UI:',
      '  http://ui/promotion/m',
    ]);
  });
});

describe('mlo backfill output', () => {
  const base: BackfillReport = {
    workflowId: 'backfill/m/2026-03-01..2026-03-09',
    runId: 'r',
    status: 'COMPLETED',
    progress: null,
    snapshot: null,
    links: { temporal: 'http://ui' },
    exitCode: 0,
  };

  it('ends with the snapshot', () => {
    const snapshot = { manifestUri: 's3://b/m.json', hash: 'a'.repeat(64), rows: 10, partitions: 8 };
    expect(backfillEndLine({ ...base, snapshot: { ...snapshot, labeledRows: 9, positives: 1 } })).toBe(
      'done: 8 partitions, 10 rows (9 labeled, 1 positive); manifest s3://b/m.json (hash aaaaaaaaaaaaaaaa)',
    );
  });

  it('ends with the failure, its type and exit code, or the status when nothing more is known', () => {
    expect(
      backfillEndLine({ ...base, status: 'FAILED', error: { type: 'MloBadInput', message: 'no events' }, exitCode: 2 }),
    ).toBe('failed (MloBadInput): no events (exit 2)');
    expect(backfillEndLine({ ...base, status: 'TERMINATED', exitCode: 1 })).toBe('failed: TERMINATED (exit 1)');
  });
});

describe('mlo gen-data output', () => {
  it('summarises the dataset written', () => {
    const part = (bytes: number) => ({ day: '2026-01-01', key: 'k', rows: 1, bytes, sha256: 's' });
    const manifest = {
      events: {
        requested: 20_000,
        actual: 20_000,
        fraud: 220,
        fraudRate: 0.011,
        byPattern: { card_testing: 100, geo_change: 60, new_merchant_high_amount: 40, compromised_merchant: 20 },
      },
      chargebacks: {
        total: 230,
        byReason: {
          card_testing: 90,
          geo_change: 60,
          new_merchant_high_amount: 40,
          compromised_merchant: 20,
          friendly_fraud: 20,
        },
        firstDay: '2026-01-03',
        lastDay: null,
      },
      entities: { cards: 1500, customers: 1000, merchants: 283 },
      partitions: { payments: [{ ...part(1048576), fraud: 1 }], chargebacks: [part(524288)] },
      contentHash: 'f'.repeat(64),
    } as unknown as DatasetManifest;
    const summary: GenerateSummary = {
      reused: false,
      manifestKey: 'raw/_dataset.json',
      manifest,
      removedStaleKeys: 0,
      elapsedMs: 1234,
    };
    const lines = [
      'gen-data: wrote 20,000 payments (220 fraud, 1.10%: card_testing 100, geo_change 60, ' +
        'new_merchant_high_amount 40, compromised_merchant 20)',
      '  and 230 chargebacks (20 friendly fraud) reported 2026-01-03 .. -',
      '  1,500 cards, 1,000 customers, 283 merchants; 2 files, 1.5 MiB in 1.2s',
      '  manifest /d/raw/_dataset.json (content hash ffffffffffffffff)',
    ];
    expect(writtenLines(summary, '/d/raw/_dataset.json')).toEqual(lines);
    expect(writtenLines({ ...summary, removedStaleKeys: 3 }, '/d/raw/_dataset.json')).toEqual([
      ...lines,
      '  removed 3 files of the previous dataset under this prefix',
    ]);
  });
});

describe('run windows', () => {
  it('names each window as a day range', () => {
    const r = (from: string, to: string) => ({ from, to });
    expect(
      windowRanges({
        asOf: '2026-03-15',
        labelCutoff: '2026-03-15T00:00:00.000Z',
        train: r('2026-01-01', '2026-02-01'),
        validation: r('2026-02-01', '2026-02-08'),
        holdout: r('2026-02-08', '2026-02-15'),
        shadow: r('2026-03-12', '2026-03-15'),
        snapshot: r('2026-01-01', '2026-03-15'),
      }),
    ).toBe(
      'train 2026-01-01..2026-02-01, validation 2026-02-01..2026-02-08, ' +
        'holdout 2026-02-08..2026-02-15, shadow 2026-03-12..2026-03-15',
    );
  });
});
