/**
 * The spec's data gates (`data.gates`) on a run's feature snapshot, before training: each gate on
 * each day partition, from the statistics the manifest records (lib/data/gates.ts). Returns the
 * verdict and the failing days' numbers; the workflow stops the run on a failure.
 */
import { withActivityFailures } from '../lib/core/failures';
import { BadInputError } from '../lib/core/errors';
import { dataGateLine, evaluateDataGates, type DataGateResult } from '../lib/data/gates';
import { FEATURE_SNAPSHOT_KIND, type FeatureSnapshotManifest } from '../lib/features/manifest';
import { getObjectBytes, parseS3Uri } from '../lib/infra/s3';
import type { ActivityDeps } from './deps';
import type { FeatureSnapshotRef } from './types';

export type DataGateInput = { model: string; gates: string[]; snapshot: FeatureSnapshotRef };

export type DataGateSummary = {
  passed: boolean;
  /** Gate × day judgements made, and how many failed. */
  judged: number;
  failures: number;
  /** The first failing judgements (day order), with their numbers. */
  failed: DataGateResult[];
  /** One line for people: the gate, the value, the threshold, the day (the first failures). */
  message: string;
  /** The failures as Markdown (the Temporal UI's current details). */
  markdown: string;
};

/** At most this many failures travel in the result (the count says how many there were). */
const MAX_LISTED = 20;

export function summarizeDataGates(model: string, results: DataGateResult[]): DataGateSummary {
  const failed = results.filter((r) => r.status === 'fail');
  const listed = failed.slice(0, MAX_LISTED);
  const more = failed.length > 3 ? `; and ${failed.length - 3} more` : '';
  const message =
    failed.length === 0
      ? `all ${results.length} data gate judgement(s) of ${model} passed`
      : `data gate failed before training: ${failed.slice(0, 3).map(dataGateLine).join('; ')}${more}`;
  const rows = listed.map(
    (r) => `| ${r.day} | \`${r.gate}\` | ${r.value ?? 'n/a'} | ${r.threshold ?? 'n/a'} | ${r.note} |`,
  );
  const markdown =
    `## Data gates failed: ${model} is not trained\n\n${failed.length} of ${results.length} judgement(s) failed` +
    `${failed.length > listed.length ? ` (first ${listed.length} shown)` : ''}.\n\n` +
    `| day | gate | value | threshold | |\n|---|---|---|---|---|\n${rows.join('\n')}\n`;
  return {
    passed: failed.length === 0,
    judged: results.length,
    failures: failed.length,
    failed: listed,
    message,
    markdown,
  };
}

export function dataGateActivities(deps: ActivityDeps) {
  return {
    async checkDataGates(input: DataGateInput): Promise<DataGateSummary> {
      return withActivityFailures(async () => {
        const { bucket, key } = parseS3Uri(input.snapshot.manifestUri);
        const text = new TextDecoder().decode(await getObjectBytes(deps.s3, bucket, key));
        const manifest = JSON.parse(text) as FeatureSnapshotManifest;
        if (manifest.kind !== FEATURE_SNAPSHOT_KIND)
          throw new BadInputError(`${input.snapshot.manifestUri} is not a feature snapshot manifest`);
        return summarizeDataGates(input.model, evaluateDataGates(input.gates, manifest.partitions));
      });
    },
  };
}
