import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tableFromIPC, type Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseArgs } from '../../cli/args';
import { genDataCommand } from '../../cli/commands/gen-data';
import { runCli } from '../../cli/index';
import {
  AliasTable,
  chargebacksKey,
  datasetParams,
  generateDataset,
  LocalDirSink,
  manifestKey,
  paymentsKey,
  Rng,
  type DatasetManifest,
  type GenerateOptions,
  type PartitionSink,
} from '../../lib/datagen';
import { BadInputError, EXIT_CODES } from '../../lib/core/errors';

const DAY_MS = 86_400_000;
const OPTS: GenerateOptions = { events: 50_000, days: 30, start: '2026-01-01', seed: 42 };

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'mlo-datagen-'));
  dirs.push(d);
  return d;
}

/** Every file below `root`, as relative key -> bytes. */
function snapshot(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.set(path.relative(root, full).split(path.sep).join('/'), readFileSync(full));
    }
  };
  walk(root);
  return out;
}

function readTable(root: string, key: string): Table {
  return tableFromIPC(readFileSync(path.join(root, key)));
}

/** A sink that records every call, over a local directory. */
class RecordingSink implements PartitionSink {
  readonly puts: string[] = [];
  readonly deletes: string[] = [];
  readonly inner: LocalDirSink;
  constructor(root: string) {
    this.inner = new LocalDirSink(root);
  }
  get location() {
    return this.inner.location;
  }
  async put(key: string, bytes: Uint8Array) {
    this.puts.push(key);
    await this.inner.put(key, bytes);
  }
  get(key: string) {
    return this.inner.get(key);
  }
  async delete(key: string) {
    this.deletes.push(key);
    await this.inner.delete(key);
  }
}

type Payment = {
  id: number;
  ts: number;
  card: number;
  customer: number;
  merchant: number;
  amount: number;
  channel: string;
  country: string;
  merchantCountry: string;
  ip: string | null;
};
type Chargeback = {
  id: number;
  card: number;
  reportedAt: number;
  amount: number;
  reason: string;
  partitionDay: string;
};

let root: string;
let manifest: DatasetManifest;
let recorder: RecordingSink;
const payments = new Map<number, Payment>();
const paymentsByDay = new Map<string, Payment[]>();
const chargebacks: Chargeback[] = [];

beforeAll(async () => {
  root = tempDir();
  recorder = new RecordingSink(root);
  const summary = await generateDataset(OPTS, recorder);
  expect(summary.reused).toBe(false);
  manifest = summary.manifest;
  for (const p of manifest.partitions.payments) {
    const t = readTable(root, p.key);
    const col = (name: string) => {
      const c = t.getChild(name);
      if (!c) throw new Error(`${p.key} has no column ${name}`);
      return c;
    };
    const [id, ts, card, customer, merchant, amount, channel, country, mc, ip] = [
      'payment_id',
      'ts',
      'card_id',
      'customer_id',
      'merchant_id',
      'amount',
      'channel',
      'country',
      'merchant_country',
      'ip_country',
    ].map(col);
    const rows: Payment[] = [];
    for (let i = 0; i < t.numRows; i++) {
      const row: Payment = {
        id: Number(id?.get(i)),
        ts: ts?.get(i) as number,
        card: card?.get(i) as number,
        customer: customer?.get(i) as number,
        merchant: merchant?.get(i) as number,
        amount: amount?.get(i) as number,
        channel: channel?.get(i) as string,
        country: country?.get(i) as string,
        merchantCountry: mc?.get(i) as string,
        ip: ip?.get(i) as string | null,
      };
      rows.push(row);
      payments.set(row.id, row);
    }
    paymentsByDay.set(p.day, rows);
  }
  for (const p of manifest.partitions.chargebacks) {
    const t = readTable(root, p.key);
    for (const r of t as Iterable<{ toJSON(): unknown }>) {
      const o = r.toJSON() as {
        payment_id: bigint;
        card_id: number;
        reported_at: number;
        amount: number;
        reason: string;
      };
      chargebacks.push({
        id: Number(o.payment_id),
        card: o.card_id,
        reportedAt: o.reported_at,
        amount: o.amount,
        reason: o.reason,
        partitionDay: p.day,
      });
    }
  }
});

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('rng', () => {
  it('is deterministic per seed and stream, and uniform enough', () => {
    const a = new Rng(42, 3, 1);
    const b = new Rng(42, 3, 1);
    const c = new Rng(42, 3, 2);
    const xs = Array.from({ length: 1000 }, () => a.nextU32());
    expect(Array.from({ length: 1000 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 1000 }, () => c.nextU32())).not.toEqual(xs);
    const r = new Rng(7);
    let sum = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) sum += r.next();
    expect(Math.abs(sum / n - 0.5)).toBeLessThan(0.01);
  });

  it('draws from an alias table in proportion to the weights', () => {
    const t = new AliasTable([1, 0, 3, 6]);
    const r = new Rng(1);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 100_000; i++) counts[t.sample(r)]! += 1;
    expect(counts[1]).toBe(0);
    expect(counts[0]! / 100_000).toBeCloseTo(0.1, 1);
    expect(counts[2]! / 100_000).toBeCloseTo(0.3, 1);
    expect(counts[3]! / 100_000).toBeCloseTo(0.6, 1);
  });
});

describe('generateDataset: files', () => {
  it('writes byte-identical files for the same seed and different ones for another seed', async () => {
    const again = tempDir();
    await generateDataset(OPTS, new LocalDirSink(again));
    const a = snapshot(root);
    const b = snapshot(again);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [k, bytes] of a) expect(Buffer.compare(bytes, b.get(k) as Buffer), k).toBe(0);

    const other = tempDir();
    const s = await generateDataset({ ...OPTS, seed: 43 }, new LocalDirSink(other));
    expect(s.manifest.contentHash).not.toBe(manifest.contentHash);
    const c = snapshot(other);
    const key = paymentsKey('raw/', '2026-01-10');
    expect(Buffer.compare(a.get(key) as Buffer, c.get(key) as Buffer)).not.toBe(0);
  });

  it('writes every partition once, each a complete file, and the manifest last', () => {
    const mKey = manifestKey('raw/');
    expect(recorder.puts[recorder.puts.length - 1]).toBe(mKey);
    expect(new Set(recorder.puts).size).toBe(recorder.puts.length);
    const listed = [...manifest.partitions.payments, ...manifest.partitions.chargebacks];
    expect(new Set(recorder.puts)).toEqual(new Set([...listed.map((p) => p.key), mKey]));
    for (const p of listed) expect(statSync(path.join(root, p.key)).size, p.key).toBe(p.bytes);
    // no temp files left behind
    expect([...snapshot(root).keys()].filter((k) => k.includes('.tmp-'))).toEqual([]);
    expect(manifest.partitions.payments.map((p) => p.day)).toEqual(
      Array.from({ length: 30 }, (_, d) => new Date(Date.UTC(2026, 0, 1) + d * DAY_MS).toISOString().slice(0, 10)),
    );
    expect(manifest.partitions.payments[0]?.key).toBe('raw/payments/day=2026-01-01/part-00000.arrow');
  });

  it('has row counts that add up to the requested events', () => {
    let total = 0;
    for (const p of manifest.partitions.payments) {
      const rows = paymentsByDay.get(p.day)?.length;
      expect(rows, p.day).toBe(p.rows);
      total += p.rows;
    }
    expect(total).toBe(50_000);
    expect(payments.size).toBe(50_000);
    expect(manifest.events).toMatchObject({ requested: 50_000, actual: 50_000 });
    expect(chargebacks.length).toBe(manifest.chargebacks.total);
    expect(manifest.partitions.chargebacks.reduce((s, p) => s + p.rows, 0)).toBe(chargebacks.length);
    expect(manifest.partitions.payments.reduce((s, p) => s + p.fraud, 0)).toBe(manifest.events.fraud);
    // payment ids are unique across the dataset
    expect(new Set([...paymentsByDay.values()].flat().map((p) => p.id)).size).toBe(50_000);
  });
});

describe('generateDataset: fraud and labels', () => {
  it('has 0.5–2% fraud, as recorded and as seen in the chargebacks', () => {
    expect(manifest.events.fraudRate).toBeGreaterThanOrEqual(0.005);
    expect(manifest.events.fraudRate).toBeLessThanOrEqual(0.02);
    const fraudLabels = chargebacks.filter((c) => c.reason !== 'friendly_fraud').length;
    expect(fraudLabels / 50_000).toBeGreaterThanOrEqual(0.005);
    expect(fraudLabels / 50_000).toBeLessThanOrEqual(0.02);
    // label noise is small: most fraud is charged back, friendly fraud is rare
    expect(fraudLabels).toBeGreaterThan(manifest.events.fraud * 0.85);
    expect(fraudLabels).toBeLessThanOrEqual(manifest.events.fraud);
    const friendly = chargebacks.length - fraudLabels;
    expect(friendly).toBeGreaterThan(0);
    expect(friendly / 50_000).toBeLessThan(0.002);
  });

  it('has chargebacks that reference payments, arrive 2–45 days later, in their reported day', () => {
    const seen = new Set<number>();
    const delays: number[] = [];
    for (const c of chargebacks) {
      const p = payments.get(c.id);
      expect(p, `chargeback for unknown payment ${c.id}`).toBeDefined();
      if (!p) continue;
      expect(seen.has(c.id), `two chargebacks for payment ${c.id}`).toBe(false);
      seen.add(c.id);
      expect(c.card).toBe(p.card);
      expect(c.amount).toBe(p.amount);
      expect(c.reportedAt).toBeGreaterThan(p.ts);
      expect(new Date(c.reportedAt).toISOString().slice(0, 10)).toBe(c.partitionDay);
      delays.push((c.reportedAt - p.ts) / DAY_MS);
    }
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...delays)).toBeLessThanOrEqual(45);
    const share = (f: (d: number) => boolean) => delays.filter(f).length / delays.length;
    expect(share((d) => d < 7)).toBeGreaterThan(0.05);
    expect(share((d) => d > 21)).toBeGreaterThan(0.05);
    // labels reported after the generated range still got their own later partitions
    const lastPaymentDay = manifest.partitions.payments[manifest.partitions.payments.length - 1]?.day ?? '';
    const later = manifest.partitions.chargebacks.filter((p) => p.day > lastPaymentDay);
    expect(later.length).toBeGreaterThan(5);
    expect(later.every((p) => p.rows > 0)).toBe(true);
    expect(later.map((p) => p.key)).toContain(chargebacksKey('raw/', later[0]?.day ?? ''));
    // every generated day has a chargebacks partition, empty or not
    expect(manifest.partitions.chargebacks.slice(0, 30).map((p) => p.day)).toEqual(
      manifest.partitions.payments.map((p) => p.day),
    );
  });
});

describe('generateDataset: fraud patterns', () => {
  it('has every fraud pattern, each looking like itself', () => {
    const byReason = new Map<string, Payment[]>();
    for (const c of chargebacks) {
      const list = byReason.get(c.reason) ?? [];
      list.push(payments.get(c.id) as Payment);
      byReason.set(c.reason, list);
    }
    for (const r of [
      'card_testing',
      'geo_change',
      'new_merchant_high_amount',
      'compromised_merchant',
      'friendly_fraud',
    ]) {
      expect(byReason.get(r)?.length ?? 0, r).toBeGreaterThanOrEqual(r === 'friendly_fraud' ? 3 : 10);
    }
    const labelled = new Set(chargebacks.map((c) => c.id));
    const legit = [...payments.values()].filter((p) => !labelled.has(p.id));
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const legitMedian = median(legit.map((p) => p.amount));

    // (a) card testing: small online amounts, many on one card within minutes
    const testing = byReason.get('card_testing') as Payment[];
    expect(testing.filter((p) => p.amount < 10).length / testing.length).toBeGreaterThan(0.8);
    expect(testing.every((p) => p.channel === 'ecommerce')).toBe(true);
    const byCard = new Map<number, number[]>();
    for (const p of testing) byCard.set(p.card, [...(byCard.get(p.card) ?? []), p.ts]);
    const bursty = [...byCard.values()].filter(
      (ts) => ts.length >= 5 && Math.max(...ts) - Math.min(...ts) < 2 * 3_600_000,
    );
    expect(bursty.length).toBeGreaterThanOrEqual(2);

    // (b) geography: every payment away from the card's home country
    const geo = byReason.get('geo_change') as Payment[];
    expect(geo.every((p) => p.merchantCountry !== p.country || (p.ip !== null && p.ip !== p.country))).toBe(true);
    const legitAbroad =
      legit.filter((p) => p.merchantCountry !== p.country || (p.ip !== null && p.ip !== p.country)).length /
      legit.length;
    expect(legitAbroad).toBeLessThan(0.12);

    // (c) high amounts
    expect(median((byReason.get('new_merchant_high_amount') as Payment[]).map((p) => p.amount))).toBeGreaterThan(
      5 * legitMedian,
    );

    // (d) the compromised merchant: fraud follows on cards that paid there during the episode
    const episodes = manifest.compromisedMerchants;
    expect(episodes.length).toBeGreaterThanOrEqual(1);
    const compromised = byReason.get('compromised_merchant') as Payment[];
    const exposedCards = new Set(
      legit
        .filter((p) =>
          episodes.some(
            (e) =>
              e.merchantId === p.merchant &&
              new Date(p.ts).toISOString().slice(0, 10) >= e.from &&
              new Date(p.ts).toISOString().slice(0, 10) <= e.until,
          ),
        )
        .map((p) => p.card),
    );
    const atMerchant = compromised.filter((p) => episodes.some((e) => e.merchantId === p.merchant));
    const afterwards = compromised.filter((p) => exposedCards.has(p.card));
    expect(atMerchant.length).toBeGreaterThan(0);
    expect(afterwards.length).toBeGreaterThan(0);
    expect(atMerchant.length + afterwards.length).toBeGreaterThanOrEqual(compromised.length * 0.9);
  });
});

describe('generateDataset: order and rhythm', () => {
  it('sorts payments by ts inside their day, with ip_country null exactly for card_present', () => {
    const problems: string[] = [];
    for (const [day, rows] of paymentsByDay) {
      const start = Date.parse(`${day}T00:00:00Z`);
      let prev = start;
      for (const p of rows) {
        if (p.ts < prev) problems.push(`${day}: payment ${p.id} at ${p.ts} comes after ${prev}`);
        prev = p.ts;
      }
      if (prev >= start + DAY_MS) problems.push(`${day}: payment at ${prev} is past the day`);
    }
    for (const p of payments.values()) {
      if (p.channel !== 'card_present' && p.channel !== 'ecommerce')
        problems.push(`payment ${p.id}: channel ${p.channel}`);
      if ((p.ip === null) !== (p.channel === 'card_present'))
        problems.push(`payment ${p.id}: ${p.channel} with ip_country ${p.ip}`);
      if (!/^[A-Z]{2}$/.test(p.country) || !/^[A-Z]{2}$/.test(p.merchantCountry))
        problems.push(`payment ${p.id}: countries ${p.country} ${p.merchantCountry}`);
      if (!(p.amount > 0) || Math.round(p.amount * 100) / 100 !== p.amount)
        problems.push(`payment ${p.id}: amount ${p.amount}`);
    }
    expect(problems.slice(0, 10)).toEqual([]);
    expect([...payments.values()].filter((p) => p.channel === 'card_present').length).toBeGreaterThan(10_000);
    expect([...payments.values()].filter((p) => p.channel === 'ecommerce').length).toBeGreaterThan(5_000);
    const t = readTable(root, paymentsKey('raw/', '2026-01-07'));
    for (const f of t.schema.fields)
      expect(t.getChild(f.name)?.nullCount, f.name).toBe(
        f.name === 'ip_country' ? (paymentsByDay.get('2026-01-07') ?? []).filter((p) => p.ip === null).length : 0,
      );
    expect(t.getChild('mcc')?.get(0)).toMatch(/^\d{4}$/);
  });

  it('has a daily rhythm, cards of one customer each, and customers with 1–3 cards', () => {
    const hours = new Array<number>(24).fill(0);
    const cardCustomer = new Map<number, number>();
    const customerCards = new Map<number, Set<number>>();
    for (const p of payments.values()) {
      hours[new Date(p.ts).getUTCHours()]! += 1;
      const c = cardCustomer.get(p.card);
      if (c !== undefined) expect(c).toBe(p.customer);
      cardCustomer.set(p.card, p.customer);
      customerCards.set(p.customer, (customerCards.get(p.customer) ?? new Set()).add(p.card));
    }
    expect(hours[3]! * 5).toBeLessThan(hours[18]!);
    const sizes = [...customerCards.values()].map((s) => s.size);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(sizes.some((s) => s > 1)).toBe(true);
  });
});

describe('generateDataset: reuse and validation', () => {
  it('reuses a dataset with identical parameters unless forced, and replaces a different one', async () => {
    const dir = tempDir();
    const small = { events: 10_000, days: 10, start: '2026-02-01', seed: 5 };
    const first = new RecordingSink(dir);
    const s1 = await generateDataset(small, first);
    expect(s1.reused).toBe(false);

    const second = new RecordingSink(dir);
    const s2 = await generateDataset(small, second);
    expect(s2.reused).toBe(true);
    expect(second.puts).toEqual([]);
    expect(s2.manifest.contentHash).toBe(s1.manifest.contentHash);

    const forced = new RecordingSink(dir);
    const s3 = await generateDataset({ ...small, force: true }, forced);
    expect(s3.reused).toBe(false);
    expect(forced.puts.length).toBe(
      s1.manifest.partitions.payments.length + s1.manifest.partitions.chargebacks.length + 1,
    );
    expect(s3.manifest.contentHash).toBe(s1.manifest.contentHash);

    // fewer days: the old manifest goes first, the files the new dataset lacks go last
    const shorter = new RecordingSink(dir);
    const s4 = await generateDataset({ ...small, days: 5 }, shorter);
    expect(shorter.deletes[0]).toBe(manifestKey('raw/'));
    expect(s4.removedStaleKeys).toBeGreaterThan(0);
    const keys = new Set([...snapshot(dir).keys()]);
    const listed = new Set(
      [...s4.manifest.partitions.payments, ...s4.manifest.partitions.chargebacks].map((p) => p.key),
    );
    expect(keys).toEqual(new Set([...listed, manifestKey('raw/')]));

    // another prefix is another dataset
    const s5 = await generateDataset({ ...small, prefix: 'other/raw' }, new LocalDirSink(dir));
    expect(s5.reused).toBe(false);
    expect(s5.manifestKey).toBe('other/raw/_dataset.json');
    expect(s5.manifest.partitions.payments[0]?.key).toBe('other/raw/payments/day=2026-02-01/part-00000.arrow');
  });

  it('validates options, naming the flag, the value and the fix', () => {
    const bad: [Partial<GenerateOptions>, RegExp][] = [
      [{ events: 9_999 }, /--events 9999 .*from 10000 to 50000000/],
      [{ events: 60_000_000 }, /--events 60000000/],
      [{ days: 0 }, /--days 0 .*e\.g\. --days 60/],
      [{ events: 50_000_000, days: 10 }, /use --days 25 or more/],
      [{ start: '2026-02-30' }, /--start "2026-02-30" is not a date: use YYYY-MM-DD/],
      [{ seed: -1 }, /--seed -1/],
      [{ prefix: '/abs' }, /--prefix "\/abs"/],
      [{ prefix: 'a/../b' }, /--prefix "a\/..\/b"/],
    ];
    for (const [o, re] of bad) {
      const fn = () => datasetParams({ ...OPTS, ...o });
      expect(fn).toThrow(BadInputError);
      expect(fn).toThrow(re);
    }
    expect(datasetParams({ ...OPTS, prefix: 'data/raw' }).prefix).toBe('data/raw/');
  });
});

describe('mlo gen-data', () => {
  it('writes a 10k dataset to --out-dir with one plain line per partition and a summary', async () => {
    const dir = tempDir();
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
    try {
      const args = parseArgs(['--events', '10_000', '--days', '7', '--seed', '3', '--out-dir', dir], genDataCommand);
      expect(await genDataCommand.run(args)).toBe(EXIT_CODES.ok);
      const m = JSON.parse(readFileSync(path.join(dir, 'raw', '_dataset.json'), 'utf8')) as DatasetManifest;
      expect(m.params).toMatchObject({ events: 10_000, days: 7, seed: 3, start: '2026-01-01', prefix: 'raw/' });
      const perDay = lines.filter((l) => l.startsWith('payments '));
      expect(perDay).toHaveLength(7);
      expect(perDay[0]).toMatch(
        /^payments 2026-01-01 rows=\d+ fraud=\d+ key=raw\/payments\/day=2026-01-01\/part-00000\.arrow$/,
      );
      expect(lines.filter((l) => l.startsWith('chargebacks ')).length).toBe(m.partitions.chargebacks.length);
      expect(lines.join('\n')).toMatch(/wrote 10,000 payments/);

      lines.length = 0;
      expect(await genDataCommand.run(args)).toBe(EXIT_CODES.ok);
      expect(lines.join('\n')).toMatch(/reusing the existing dataset at .*_dataset\.json.*--force/);
    } finally {
      log.mockRestore();
    }
  });

  it('maps bad flags to the bad-input exit code with a message naming the flag', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await runCli(['gen-data', '--events', 'lots', '--out-dir', tempDir()])).toBe(EXIT_CODES.badInput);
      expect(String(err.mock.calls[0]?.[0])).toMatch(/--events "lots" is not a whole number/);
      expect(await runCli(['gen-data', '--days', '1000', '--out-dir', tempDir()])).toBe(EXIT_CODES.badInput);
      expect(String(err.mock.calls[1]?.[0])).toMatch(/--days 1000 is out of range/);
      expect(await runCli(['gen-data', '--start', 'yesterday', '--out-dir', tempDir()])).toBe(EXIT_CODES.badInput);
      expect(String(err.mock.calls[2]?.[0])).toMatch(/--start "yesterday"/);
    } finally {
      err.mockRestore();
    }
  });
});
