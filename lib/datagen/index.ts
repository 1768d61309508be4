/** The synthetic payments + chargebacks dataset behind `mlo gen-data`. */
export {
  chargebacksKey,
  datasetParams,
  DEFAULTS,
  generateDataset,
  LIMITS,
  manifestKey,
  paymentsKey,
  type DatasetManifest,
  type GenerateOptions,
  type GenerateProgress,
  type GenerateSummary,
} from './generate';
export { LocalDirSink, S3Sink, type PartitionSink } from './sink';
export { AliasTable, Rng } from './rng';
