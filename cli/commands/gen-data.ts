/**
 * `mlo gen-data`: writes the synthetic card-payments and chargebacks dataset (Arrow IPC
 * files, one partition per day, manifest last) to the S3 bucket or a local directory.
 */
import path from 'node:path';
import { BadInputError, EXIT_CODES, type ExitCode } from '../../lib/core/errors';
import {
  datasetParams,
  DEFAULTS,
  generateDataset,
  LIMITS,
  LocalDirSink,
  S3Sink,
  type GenerateProgress,
  type GenerateSummary,
  type PartitionSink,
} from '../../lib/datagen';
import { boolFlag, stringFlag } from '../args';
import type { Command, ParsedArgs } from '../command';

const EXAMPLES: Record<string, string> = { events: '200000', days: '60', seed: '42' };

function wholeNumber(args: ParsedArgs, name: string, dflt: number): number {
  const v = stringFlag(args, name);
  if (v === undefined) return dflt;
  const s = v.trim().replace(/_/g, '');
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n))
    throw new BadInputError(
      `--${name} "${v}" is not a whole number: use digits (underscores allowed), ` +
        `e.g. --${name} ${EXAMPLES[name] ?? '1'}`,
    );
  return n;
}

function where(sink: PartitionSink, key: string): string {
  return sink.location.startsWith('s3://') ? `${sink.location}/${key}` : path.join(sink.location, key);
}

const fmt = (n: number) => n.toLocaleString('en-US');
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

function progressLine(p: GenerateProgress, tty: boolean): string {
  if (!tty) {
    return p.kind === 'payments'
      ? `payments ${p.day} rows=${p.rows} fraud=${p.fraud} key=${p.key}`
      : `chargebacks ${p.day} rows=${p.rows} key=${p.key}`;
  }
  if (p.kind === 'chargebacks') return `${p.day}  chargebacks ${fmt(p.rows).padStart(9)} rows`;
  const share = pct(p.rows > 0 ? p.fraud / p.rows : 0);
  const counts = `${fmt(p.rows).padStart(9)} rows  ${fmt(p.fraud).padStart(7)} fraud (${share})`;
  return `${p.day}  payments    ${counts}  [${p.dayIndex + 1}/${p.days}]`;
}

/** The summary of a dataset written: payments, chargebacks, entities, files and the manifest. */
export function writtenLines(summary: GenerateSummary, manifestAt: string): string[] {
  const m = summary.manifest;
  const cb = m.chargebacks;
  const parts = m.partitions.payments.length + m.partitions.chargebacks.length;
  const bytes = [...m.partitions.payments, ...m.partitions.chargebacks].reduce((s, p) => s + p.bytes, 0);
  const reasons = Object.entries(m.events.byPattern)
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(', ');
  const mib = (bytes / 1048576).toFixed(1);
  return [
    `gen-data: wrote ${fmt(m.events.actual)} payments ` +
      `(${fmt(m.events.fraud)} fraud, ${pct(m.events.fraudRate)}: ${reasons})`,
    `  and ${fmt(cb.total)} chargebacks (${fmt(cb.byReason.friendly_fraud)} friendly fraud) ` +
      `reported ${cb.firstDay ?? '-'} .. ${cb.lastDay ?? '-'}`,
    `  ${fmt(m.entities.cards)} cards, ${fmt(m.entities.customers)} customers, ` +
      `${fmt(m.entities.merchants)} merchants; ` +
      `${parts} files, ${mib} MiB in ${(summary.elapsedMs / 1000).toFixed(1)}s`,
    `  manifest ${manifestAt} (content hash ${m.contentHash.slice(0, 16)})`,
    ...(summary.removedStaleKeys > 0
      ? [`  removed ${summary.removedStaleKeys} files of the previous dataset under this prefix`]
      : []),
  ];
}

async function run(args: ParsedArgs): Promise<ExitCode> {
  if (args.positionals.length > 0)
    throw new BadInputError(
      `unexpected argument "${args.positionals[0]}": \`mlo gen-data\` takes only options; ` +
        'see `mlo gen-data --help`',
    );
  const opts = {
    events: wholeNumber(args, 'events', DEFAULTS.events),
    days: wholeNumber(args, 'days', DEFAULTS.days),
    start: stringFlag(args, 'start') ?? DEFAULTS.start,
    seed: wholeNumber(args, 'seed', DEFAULTS.seed),
    prefix: stringFlag(args, 'prefix') ?? DEFAULTS.prefix,
    force: boolFlag(args, 'force'),
  };
  const outDir = stringFlag(args, 'out-dir');
  if (outDir !== undefined && outDir.trim() === '')
    throw new BadInputError('--out-dir "" is empty: name a directory, e.g. --out-dir /tmp/mlo-data');
  // validate everything before touching S3 or the disk
  const params = datasetParams(opts);

  const sink: PartitionSink = outDir !== undefined ? new LocalDirSink(path.resolve(outDir)) : await S3Sink.open();
  const tty = process.stdout.isTTY === true;
  console.log(
    `gen-data: ${fmt(params.events)} payments over ${params.days} days from ${params.start} ` +
      `(seed ${params.seed}) into ${where(sink, params.prefix)}`,
  );
  const summary = await generateDataset(opts, sink, (p) => console.log(progressLine(p, tty)));
  const m = summary.manifest;
  const manifestAt = where(sink, summary.manifestKey);
  if (summary.reused)
    console.log(
      `gen-data: reusing the existing dataset at ${manifestAt} (same parameters; ${fmt(m.events.actual)} payments, ` +
        `${fmt(m.chargebacks.total)} chargebacks). Pass --force to regenerate it.`,
    );
  else console.log(writtenLines(summary, manifestAt).join('\n'));
  return EXIT_CODES.ok;
}

export const genDataCommand: Command = {
  name: 'gen-data',
  summary: 'write the synthetic card-payments and chargebacks dataset (Arrow, day partitions)',
  usage: 'mlo gen-data [--events N] [--days D] [--start YYYY-MM-DD] [--seed S] [--prefix P] [--out-dir DIR] [--force]',
  flags: [
    {
      name: 'events',
      value: 'N',
      description: `payments to generate, ${fmt(LIMITS.minEvents)} to ${fmt(LIMITS.maxEvents)} (about N/D a day)`,
      default: String(DEFAULTS.events),
    },
    {
      name: 'days',
      value: 'D',
      description: `days of payments, ${LIMITS.minDays} to ${LIMITS.maxDays}`,
      default: String(DEFAULTS.days),
    },
    { name: 'start', value: 'YYYY-MM-DD', description: 'first day (UTC)', default: DEFAULTS.start },
    {
      name: 'seed',
      value: 'S',
      description: 'random seed, 0 to 4294967295; the same seed gives byte-identical files',
      default: String(DEFAULTS.seed),
    },
    { name: 'prefix', value: 'P', description: 'key prefix of the dataset', default: DEFAULTS.prefix },
    { name: 'out-dir', value: 'DIR', description: 'write into a local directory instead of the S3 bucket' },
    { name: 'force', description: 'regenerate even when a dataset with the same parameters exists' },
  ],
  run,
};
