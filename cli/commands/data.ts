/**
 * `mlo data check`: the raw events (and labels) of a model checked against its spec over a day
 * range, read straight from S3 (lib/data/check.ts). One line per finding; exit 2 when an
 * error-level check fails (the data is bad input to the backfill), 0 otherwise.
 */
import { BadInputError, EXIT_CODES } from '../../lib/core/errors';
import { runDataCheck, reportText } from '../../lib/data/check';
import { s3RawSource } from '../../lib/data/check-source';
import { featureSetFromSpec } from '../../lib/features/featureset';
import { loadConfig } from '../../lib/infra/config';
import { createS3Client } from '../../lib/infra/s3';
import { findModelSpec } from '../../lib/spec/model-spec';
import { boolFlag } from '../args';
import type { Command } from '../command';
import { dayFlag, endDayFlag, JSON_FLAG, MODELS_DIR_FLAG, modelsDir, requireFlag } from '../context';

export const dataCommand: Command = {
  name: 'data',
  summary: "check a model's raw data against its spec (`mlo data check`): columns, nulls, duplicates, days, lateness",
  usage: 'mlo data check --model <name> --from YYYY-MM-DD --to YYYY-MM-DD [--json]',
  flags: [
    { name: 'model', value: 'NAME', description: 'the model spec whose data to check' },
    { name: 'from', value: 'YYYY-MM-DD', description: 'first event day (inclusive)' },
    { name: 'to', value: 'YYYY-MM-DD', description: 'end day (exclusive)' },
    JSON_FLAG,
    MODELS_DIR_FLAG,
  ],
  details: [
    'Checks the event days of the range and the label days that can report on them (up to <to> + the',
    'label maturity): columns present and usable, null rates (data.checks), duplicate event ids (within a',
    'day and across the range), event times outside their day, empty and missing days, files landing after',
    "their day's end + data.checks.arrival_allowance, labels reported after their maturity.",
    'Each finding is ERROR or WARN with its day, file, value and threshold.',
    'exit codes: 0 no error (warnings allowed), 2 an error-level finding or bad input, 5 S3 unreachable.',
  ],
  async run(args) {
    const [sub, ...more] = args.positionals;
    if (sub !== 'check' || more.length > 0)
      throw new BadInputError(
        `\`mlo data\` takes one subcommand, check: mlo data check --model <name> --from YYYY-MM-DD --to YYYY-MM-DD` +
          (sub && sub !== 'check' ? ` (not "${sub}")` : ''),
      );
    const json = boolFlag(args, 'json');
    const model = requireFlag(args, 'model', 'data check', 'fraud-detector');
    const { spec } = findModelSpec(model, modelsDir(args));
    const from = dayFlag(args, 'from', 'the first day');
    const to = endDayFlag(args, 'to', 'the exclusive end day');
    if (!from || !to)
      throw new BadInputError('`mlo data check` needs --from and --to, e.g. --from 2026-01-01 --to 2026-03-01');
    if (from >= to) throw new BadInputError(`--from ${from} must be before --to ${to}`);
    const cfg = loadConfig();
    const s3 = createS3Client(cfg.s3);
    try {
      const report = await runDataCheck({
        model: spec.name,
        featureSet: featureSetFromSpec(spec),
        checks: spec.data.checks,
        range: { from, to },
        source: s3RawSource(s3, cfg.s3.bucket),
      });
      const exitCode = report.passed ? EXIT_CODES.ok : EXIT_CODES.badInput;
      console.log(json ? JSON.stringify({ ...report, exitCode }, null, 2) : reportText(report));
      return exitCode;
    } finally {
      s3.destroy();
    }
  },
};
