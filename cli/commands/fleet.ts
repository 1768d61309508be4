/**
 * `mlo fleet`: the operator's view of every model (the specs in the models directory, the models
 * with runs, the registered models with a champion): its champion, last run, next scheduled run
 * and pending approval. The data comes in batched, paged calls (lib/client/fleet.ts), so the
 * view costs the same number of calls at 3 models as at 1,000.
 */
import { BadInputError, EXIT_CODES, type ExitCode } from '../../lib/core/errors';
import { DURATION_HELP, parseDuration } from '../../lib/core/duration';
import { fleetCells, fleetMarkdown, fleetRows, filterRows, FLEET_COLUMNS, gatherFleet } from '../../lib/client/fleet';
import type { FleetFilter, FleetSpec } from '../../lib/client/fleet';
import { MlflowClient, MlflowError } from '../../lib/registry/mlflow';
import { listSpecFiles, loadSpecFile } from '../../lib/spec/model-spec';
import { boolFlag, stringFlag } from '../args';
import type { Command, ParsedArgs } from '../command';
import { JSON_FLAG, MODELS_DIR_FLAG, modelsDir, noPositionals, withTemporal } from '../context';
import { table } from '../render';

/** The specs of the models directory: a spec that does not parse is bad input naming its file. */
function fleetSpecs(dir: string): FleetSpec[] {
  return listSpecFiles(dir).map((file) => {
    const spec = loadSpecFile(file);
    return { name: spec.name, promotionDeadline: spec.promotion.deadline ?? null };
  });
}

/** A duration flag in milliseconds, or undefined without the flag. */
export function durationFlag(args: ParsedArgs, name: string): number | undefined {
  const v = stringFlag(args, name);
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined) throw new BadInputError(`--${name} "${v}" is not a duration: use ${DURATION_HELP}`);
  return ms;
}

/** The default look-back of the runs read. */
export const DEFAULT_SINCE = '30d';

async function run(args: ParsedArgs): Promise<ExitCode> {
  noPositionals(args, 'fleet');
  const json = boolFlag(args, 'json');
  const markdown = boolFlag(args, 'markdown');
  if (json && markdown) throw new BadInputError('--json and --markdown exclude each other: choose one output');
  const filter: FleetFilter = {
    failing: boolFlag(args, 'failing'),
    pending: boolFlag(args, 'pending'),
    staleMs: durationFlag(args, 'stale'),
  };
  // The runs read go back --since, and at least as far as --stale looks.
  const sinceMs = Math.max(
    durationFlag(args, 'since') ?? (parseDuration(DEFAULT_SINCE) as number),
    filter.staleMs ?? 0,
  );
  const filters = [
    ...(filter.failing ? ['failing'] : []),
    ...(filter.pending ? ['pending approval'] : []),
    ...(filter.staleMs !== undefined ? [`stale ${stringFlag(args, 'stale')}`] : []),
  ];
  const specs = fleetSpecs(modelsDir(args));
  return withTemporal(async ({ client, cfg }) => {
    const now = new Date();
    const since = new Date(now.getTime() - sinceMs);
    const data = await gatherFleet({ client, mlflow: MlflowClient.fromConfig(cfg), specs, since }).catch(
      (err: unknown) => {
        if (err instanceof MlflowError && (err.status === 401 || err.status === 403))
          throw new BadInputError(
            `MLflow at ${cfg.mlflow.trackingUri} refused to list the registry (HTTP ${err.status}): set ` +
              'MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an MLflow user that may read every registered model',
            { cause: err },
          );
        throw err;
      },
    );
    const rows = filterRows(fleetRows(data, now), filter, now);
    if (json)
      console.log(
        JSON.stringify(
          { generatedAt: now.toISOString(), runsSince: since.toISOString(), filters, models: rows },
          null,
          2,
        ),
      );
    else if (markdown) process.stdout.write(fleetMarkdown(rows, now, filters));
    else if (rows.length === 0) console.log(filters.length ? `no model is ${filters.join(' and ')}` : 'no models');
    else
      console.log(
        table(
          FLEET_COLUMNS,
          rows.map((r) => fleetCells(r, now)),
        ).join('\n'),
      );
    return EXIT_CODES.ok;
  });
}

export const fleetCommand: Command = {
  name: 'fleet',
  summary: "every model's champion, last run, next scheduled run and pending approval (--failing, --stale, --pending)",
  usage: 'mlo fleet [--failing] [--stale 3d] [--pending] [--since 30d] [--json | --markdown] [--models-dir DIR]',
  flags: [
    { name: 'failing', description: 'only models whose last run failed or failed a gate' },
    {
      name: 'stale',
      value: 'DURATION',
      description: 'only models with no champion promoted, or no successful run, within DURATION (e.g. 3d)',
    },
    { name: 'pending', description: 'only models with a promotion awaiting approval' },
    {
      name: 'since',
      value: 'DURATION',
      description: 'read the runs started within DURATION (and the running ones); LAST RUN "none": none since',
      default: DEFAULT_SINCE,
    },
    JSON_FLAG,
    { name: 'markdown', description: 'print the same rows as a Markdown report (for a daily report)' },
    MODELS_DIR_FLAG,
  ],
  details: [
    'The filters combine (a model must match each one given). Models: the specs in the models',
    'directory, the models with train-and-promote runs, and the registered models with a champion.',
    'MLflow is read with MLFLOW_TRACKING_USERNAME/PASSWORD when the server requires a user.',
  ],
  run,
};
