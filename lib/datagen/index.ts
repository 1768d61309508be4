/** The synthetic payments + chargebacks dataset behind `mlo gen-data`. */
export {
  BASE_FRAUD_RATE,
  chargebacksKey,
  datasetParams,
  dayString,
  DEFAULTS,
  generateDataset,
  GENERATOR_NAME,
  GENERATOR_VERSION,
  LIMITS,
  manifestKey,
  parseDay,
  paymentsKey,
  readManifest,
  type DatasetManifest,
  type DatasetParams,
  type GenerateOptions,
  type GenerateProgress,
  type GenerateSummary,
  type PartitionEntry,
} from './generate';
export {
  CHARGEBACKS_SCHEMA,
  PAYMENTS_SCHEMA,
  chargebacksToIpc,
  paymentsToIpc,
  describeSchema,
  type ChargebackColumns,
  type PaymentColumns,
} from './arrow';
export {
  CHANNELS,
  CHARGEBACK_REASONS,
  COUNTRIES,
  FRAUD_PATTERNS,
  MCCS,
  type Channel,
  type ChargebackReason,
  type FraudPattern,
} from './catalog';
export { LocalDirSink, S3Sink, isConnectionError, type PartitionSink } from './sink';
export { AliasTable, Rng } from './rng';
