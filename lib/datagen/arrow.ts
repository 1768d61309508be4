/**
 * Arrow schemas of the raw dataset and the builders that turn typed-array columns into
 * Arrow IPC *file* bytes (readable by apache-arrow, pyarrow.ipc and pyarrow.dataset).
 *
 * Low-cardinality strings (mcc, channel, the three country columns) are dictionary-encoded
 * with Int8 indices and the full, fixed dictionary from catalog.ts in every file, so every
 * partition has the same schema and the same dictionary.
 */
import { endianness } from 'node:os';
import {
  Dictionary,
  Field,
  Float64,
  Int32,
  Int64,
  Int8,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  tableToIPC,
  TimestampMillisecond,
  Utf8,
  vectorFromArray,
  type Data,
} from 'apache-arrow';
import { CHANNELS, CHARGEBACK_REASONS, COUNTRIES, MCCS } from './catalog';

if (endianness() !== 'LE')
  throw new Error('lib/datagen writes Int64 columns through 32-bit views and needs a little-endian machine');

const TWO_POW_32 = 4294967296;

const dict = (id: number) => new Dictionary(new Utf8(), new Int8(), id);
const DICT_MCC = dict(0);
const DICT_CHANNEL = dict(1);
const DICT_COUNTRY = dict(2);
const DICT_MERCHANT_COUNTRY = dict(3);
const DICT_IP_COUNTRY = dict(4);

const MCC_VALUES = vectorFromArray(
  MCCS.map((m) => m.code),
  new Utf8(),
);
const CHANNEL_VALUES = vectorFromArray([...CHANNELS], new Utf8());
const COUNTRY_VALUES = vectorFromArray(
  COUNTRIES.map((c) => c.code),
  new Utf8(),
);

export const PAYMENTS_SCHEMA = new Schema([
  new Field('payment_id', new Int64(), false),
  new Field('ts', new TimestampMillisecond('UTC'), false),
  new Field('card_id', new Int32(), false),
  new Field('customer_id', new Int32(), false),
  new Field('merchant_id', new Int32(), false),
  new Field('mcc', DICT_MCC, false),
  new Field('amount', new Float64(), false),
  new Field('channel', DICT_CHANNEL, false),
  new Field('country', DICT_COUNTRY, false),
  new Field('merchant_country', DICT_MERCHANT_COUNTRY, false),
  new Field('ip_country', DICT_IP_COUNTRY, true),
]);

export const CHARGEBACKS_SCHEMA = new Schema([
  new Field('payment_id', new Int64(), false),
  new Field('card_id', new Int32(), false),
  new Field('reported_at', new TimestampMillisecond('UTC'), false),
  new Field('amount', new Float64(), false),
  new Field('reason', new Utf8(), false),
]);

/** A plain description of a schema, for the manifest: `[{ name, type, nullable }]`. */
export function describeSchema(schema: Schema): { name: string; type: string; nullable: boolean }[] {
  return schema.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable }));
}

/**
 * Columns of one payments partition, already in output order. Ids are 1-based; the small
 * categorical columns hold indices into MCCS, CHANNELS and COUNTRIES; ipCountry is -1 for null.
 */
export type PaymentColumns = {
  length: number;
  paymentId: Float64Array;
  ts: Float64Array;
  cardId: Int32Array;
  customerId: Int32Array;
  merchantId: Int32Array;
  mcc: Int8Array;
  amount: Float64Array;
  channel: Int8Array;
  country: Int8Array;
  merchantCountry: Int8Array;
  ipCountry: Int8Array;
};

export type ChargebackColumns = {
  length: number;
  paymentId: Float64Array;
  cardId: Int32Array;
  reportedAt: Float64Array;
  amount: Float64Array;
  /** codes 1..n into CHARGEBACK_REASONS (code - 1) */
  reason: Uint8Array;
};

/** Non-negative integers (< 2^53) as an Int64 buffer, without a BigInt per value. */
function int64(values: Float64Array, n: number): BigInt64Array {
  const out = new BigInt64Array(n);
  const words = new Int32Array(out.buffer);
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    words[2 * i] = v >>> 0;
    words[2 * i + 1] = Math.floor(v / TWO_POW_32);
  }
  return out;
}

function dictData(
  type: Dictionary<Utf8, Int8>,
  values: typeof COUNTRY_VALUES,
  indices: Int8Array,
  n: number,
  nullable = false,
): Data {
  if (!nullable) return makeData({ type, length: n, nullCount: 0, data: indices.subarray(0, n), dictionary: values });
  const bitmap = new Uint8Array((n + 7) >> 3);
  let nulls = 0;
  const data = new Int8Array(n);
  for (let i = 0; i < n; i++) {
    const v = indices[i] as number;
    if (v < 0) nulls++;
    else {
      bitmap[i >> 3] = (bitmap[i >> 3] as number) | (1 << (i & 7));
      data[i] = v;
    }
  }
  return makeData({
    type,
    length: n,
    nullCount: nulls,
    nullBitmap: nulls > 0 ? bitmap : null,
    data,
    dictionary: values,
  });
}

function toIpc(schema: Schema, children: Data[], n: number): Uint8Array {
  const data = makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children });
  return tableToIPC(new Table([new RecordBatch(schema, data)]), 'file');
}

export function paymentsToIpc(c: PaymentColumns): Uint8Array {
  const n = c.length;
  return toIpc(
    PAYMENTS_SCHEMA,
    [
      makeData({ type: new Int64(), length: n, nullCount: 0, data: int64(c.paymentId, n) }),
      makeData({ type: new TimestampMillisecond('UTC'), length: n, nullCount: 0, data: int64(c.ts, n) }),
      makeData({ type: new Int32(), length: n, nullCount: 0, data: c.cardId.subarray(0, n) }),
      makeData({ type: new Int32(), length: n, nullCount: 0, data: c.customerId.subarray(0, n) }),
      makeData({ type: new Int32(), length: n, nullCount: 0, data: c.merchantId.subarray(0, n) }),
      dictData(DICT_MCC, MCC_VALUES, c.mcc, n),
      makeData({ type: new Float64(), length: n, nullCount: 0, data: c.amount.subarray(0, n) }),
      dictData(DICT_CHANNEL, CHANNEL_VALUES, c.channel, n),
      dictData(DICT_COUNTRY, COUNTRY_VALUES, c.country, n),
      dictData(DICT_MERCHANT_COUNTRY, COUNTRY_VALUES, c.merchantCountry, n),
      dictData(DICT_IP_COUNTRY, COUNTRY_VALUES, c.ipCountry, n, true),
    ],
    n,
  );
}

const REASON_BYTES = CHARGEBACK_REASONS.map((r) => new TextEncoder().encode(r));

export function chargebacksToIpc(c: ChargebackColumns): Uint8Array {
  const n = c.length;
  const offsets = new Int32Array(n + 1);
  let size = 0;
  for (let i = 0; i < n; i++) {
    size += (REASON_BYTES[(c.reason[i] as number) - 1] as Uint8Array).length;
    offsets[i + 1] = size;
  }
  const chars = new Uint8Array(size);
  for (let i = 0; i < n; i++) chars.set(REASON_BYTES[(c.reason[i] as number) - 1] as Uint8Array, offsets[i]);
  return toIpc(
    CHARGEBACKS_SCHEMA,
    [
      makeData({ type: new Int64(), length: n, nullCount: 0, data: int64(c.paymentId, n) }),
      makeData({ type: new Int32(), length: n, nullCount: 0, data: c.cardId.subarray(0, n) }),
      makeData({ type: new TimestampMillisecond('UTC'), length: n, nullCount: 0, data: int64(c.reportedAt, n) }),
      makeData({ type: new Float64(), length: n, nullCount: 0, data: c.amount.subarray(0, n) }),
      makeData({ type: new Utf8(), length: n, nullCount: 0, valueOffsets: offsets, data: chars }),
    ],
    n,
  );
}
