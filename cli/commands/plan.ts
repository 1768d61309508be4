/**
 * `mlo plan --model m [--from D] [--to D] [--json]`: what a train-and-promote run would do,
 * before anything runs: its windows, the partitions to compute and to reuse, the lookback
 * coverage, the label maturity and the labeled share expected per window.
 *
 * Computed here, with the caller's read access to S3 (MLO_S3_*): it only lists the raw prefixes
 * and looks up the content-addressed outputs (no sign-in, no Temporal, nothing written), through
 * the same listing, partition sources and hash as the backfill (activities/features.ts), so the
 * plan names the very outputs a run would reuse. The workers' planning activity stays the
 * authority: it checks the lookback again when the run starts.
 */
import { EXIT_CODES, type ExitCode } from '../../lib/core/errors';
import { daysBetween, runWindows, type RunWindows } from '../../lib/core/windows';
import { featureSetFromSpec } from '../../lib/features/featureset';
import { buildRunPlan, renderRunPlan, type RunPlan } from '../../lib/features/plan';
import { loadConfig, type Config } from '../../lib/infra/config';
import { createS3Client, s3Uri } from '../../lib/infra/s3';
import { findModelSpec, type ModelSpec } from '../../lib/spec/model-spec';
import { listRawDays, plannedPartitions } from '../../activities/features';
import { boolFlag } from '../args';
import type { Command, FlagSpec, ParsedArgs } from '../command';
import {
  dayFlag,
  endDayFlag,
  JSON_FLAG,
  MODELS_DIR_FLAG,
  modelsDir,
  noPositionals,
  requireFlag,
  todayUtc,
} from '../context';

/** The plan of a run of `spec` over `windows`, from what S3 holds now (reads only). */
export async function computeRunPlan(cfg: Config, spec: ModelSpec, windows: RunWindows): Promise<RunPlan> {
  const s3 = createS3Client(cfg.s3);
  try {
    const deps = { s3, config: cfg };
    const featureSet = featureSetFromSpec(spec);
    const eventDays = await listRawDays(deps, featureSet.events, 'data.events');
    const planned = await plannedPartitions(deps, {
      featureSet,
      days: daysBetween(windows.snapshot),
      labelCutoff: windows.labelCutoff,
    });
    return buildRunPlan({
      model: spec.name,
      featureSet,
      windows,
      maturity: spec.data.labels.maturity,
      eventDays,
      eventsWhere: s3Uri(cfg.s3.bucket, featureSet.events.prefix),
      featureSetHash: planned.featureSetHash,
      outputPrefix: s3Uri(cfg.s3.bucket, planned.outputPrefix),
      partitions: planned.partitions,
    });
  } finally {
    s3.destroy();
  }
}

/** The run's windows from the flags, resolved as the workflow resolves them. */
export function planWindows(spec: ModelSpec, asOf: string, trainFrom: string | undefined): RunWindows {
  return runWindows({ asOf, trainFrom, spec }, new Date());
}

async function run(args: ParsedArgs): Promise<ExitCode> {
  noPositionals(args, 'plan');
  const json = boolFlag(args, 'json');
  const model = requireFlag(args, 'model', 'plan', 'fraud-detector');
  const { spec } = findModelSpec(model, modelsDir(args));
  const asOf = endDayFlag(args, 'to', 'the as-of day, the exclusive end of the data') ?? todayUtc();
  const trainFrom = dayFlag(args, 'from', "the training window's first day");
  const plan = await computeRunPlan(loadConfig(), spec, planWindows(spec, asOf, trainFrom));
  const exitCode = plan.problems.length > 0 ? EXIT_CODES.badInput : EXIT_CODES.ok;
  if (json) console.log(JSON.stringify({ ...plan, exitCode }, null, 2));
  else for (const line of renderRunPlan(plan)) console.log(line);
  return exitCode;
}

/** The days a run's windows derive from: `mlo train-and-promote` takes the same. */
export const RUN_DAY_FLAGS: FlagSpec[] = [
  {
    name: 'to',
    value: 'YYYY-MM-DD',
    description: 'the as-of day: the exclusive end of the data; every window ends there',
    default: 'today (UTC)',
  },
  {
    name: 'from',
    value: 'YYYY-MM-DD',
    description: "the training window's first day",
    default: 'training.window.days before validation',
  },
];

export const planCommand: Command = {
  name: 'plan',
  summary: 'show what a train-and-promote run would do (windows, partitions, lookback, labels) before it runs',
  usage: 'mlo plan --model <name> [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json]',
  flags: [
    { name: 'model', value: 'NAME', description: 'the model spec (models/<name>.yaml)' },
    ...RUN_DAY_FLAGS,
    JSON_FLAG,
    MODELS_DIR_FLAG,
  ],
  details: [
    'Reads S3 with your credentials (MLO_S3_*): lists the raw events and labels and looks up the',
    'content-addressed feature partitions; writes nothing, needs no sign-in and no Temporal.',
    'Prints the training, validation, holdout and shadow windows (days left out as warm-up, the',
    'labeled share expected), the partitions to compute and to reuse, the lookback coverage (the first',
    'raw day against what the windows need) and the label rule and maturity (docs/data.md).',
    'Exit: 0 the run can start; 2 the run would fail with bad input (the problems are listed:',
    'an incomplete lookback without features.warmup: exclude, a missing raw day, …); 5 S3 unreachable.',
  ],
  run,
};
