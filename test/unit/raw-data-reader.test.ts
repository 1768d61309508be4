/**
 * lib/data's reader on files pyarrow writes: every supported column type read as the feature
 * kernel reads it, projection, row-group pruning by the time column's footer statistics, Hive
 * layouts and the files of a partition, format detection, casts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localAccess } from '../../lib/data/access';
import { dayOfKey, groupByDay, layoutHint } from '../../lib/data/layout';
import { readParquet } from '../../lib/data/parquet';
import { rowGroupRanges } from '../../lib/data/parquet-footer';
import { detectFormat, readDayFiles, readRawFile } from '../../lib/data/read';
import { codedColumn, idColumn, numericColumn, timestampMs } from '../../lib/features/arrow-io';
import { VENV_PYTHON } from '../helpers/python';

const dir = mkdtempSync(path.join(tmpdir(), 'mlo-raw-reader-'));

/** 10 rows; ts = 2026-01-01 + i hours; row groups of 4 rows (3 groups). */
const SCRIPT = String.raw`
import sys, datetime, decimal
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.ipc as ipc
d = sys.argv[1]
n = 10
base = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
t = pa.table({
    'id': pa.array(range(1, n + 1), pa.uint64()),
    'ts_us': pa.array([base + datetime.timedelta(hours=i, microseconds=999) for i in range(n)], pa.timestamp('us', tz='America/New_York')),
    'ts_ns': pa.array([base + datetime.timedelta(hours=i) for i in range(n)], pa.timestamp('ns')),
    'ts_s': pa.array([base + datetime.timedelta(hours=i) for i in range(n)], pa.timestamp('s', tz='UTC')),
    'day': pa.array([datetime.date(2026, 1, 1 + i) for i in range(n)], pa.date32()),
    'day64': pa.array([datetime.date(2026, 1, 1 + i) for i in range(n)], pa.date64()),
    'price': pa.array([decimal.Decimal(i) * decimal.Decimal('-1.25') for i in range(n)], pa.decimal128(12, 2)),
    'f16': pa.array([0.5 * i for i in range(n)], pa.float16()),
    'f32': pa.array([0.25 * i for i in range(n)], pa.float32()),
    'i8': pa.array([i - 5 for i in range(n)], pa.int8()),
    'u32': pa.array([i * 1000 for i in range(n)], pa.uint32()),
    'i64': pa.array([None if i == 3 else i for i in range(n)], pa.int64()),
    'city': pa.array(['a', 'b', None, 'a', 'c', 'a', 'b', 'b', 'a', 'c']).dictionary_encode(),
    'big': pa.array(['x%d' % (i % 3) for i in range(n)], pa.large_string()),
    'num_text': pa.array(['1.5', '2', '', None, '-3e2', '7', '8', '9', '10', 'eleven']),
})
pq.write_table(t, f'{d}/all.parquet', row_group_size=4, compression='zstd')
pq.write_table(t.slice(0, 5), f'{d}/p0.parquet', compression='snappy')
pq.write_table(t.slice(5), f'{d}/p1.parquet', row_group_size=2, compression='zstd')
with ipc.new_file(f'{d}/all.arrow', t.schema) as w:
    w.write_table(t)
open(f'{d}/notes.csv', 'w').write('id,ts\n1,2\n')
`;

const H = 3_600_000;
const BASE = Date.parse('2026-01-01T00:00:00Z');
const access = localAccess(dir);
const file = (key: string) => ({ key, etag: '', size: readFileSync(path.join(dir, key)).byteLength });

beforeAll(() => {
  const r = spawnSync(VENV_PYTHON, ['-c', SCRIPT, dir], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Parquet columns as the kernel reads them', () => {
  it('reads every supported type, the same from Parquet and from Arrow IPC', async () => {
    for (const key of ['all.parquet', 'all.arrow']) {
      const { table: t, format } = await readRawFile(access, file(key), { field: 'data.events' });
      expect(format).toBe(key.endsWith('.parquet') ? 'parquet' : 'arrow');
      const w = key;
      expect([...idColumn(t.getChild('id')!, w, 'id')]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      const hours = Array.from({ length: 10 }, (_, i) => BASE + i * H);
      expect([...timestampMs(t.getChild('ts_us')!, w, 'ts_us')]).toEqual(hours);
      expect([...timestampMs(t.getChild('ts_ns')!, w, 'ts_ns')]).toEqual(hours);
      expect([...timestampMs(t.getChild('ts_s')!, w, 'ts_s')]).toEqual(hours);
      const days = Array.from({ length: 10 }, (_, i) => BASE + i * 24 * H);
      expect([...timestampMs(t.getChild('day')!, w, 'day')]).toEqual(days);
      expect([...timestampMs(t.getChild('day64')!, w, 'day64')]).toEqual(days);
      expect([...numericColumn(t.getChild('price')!, w, 'price')]).toEqual(
        Array.from({ length: 10 }, (_, i) => (i === 0 ? 0 : -1.25 * i)),
      );
      expect([...numericColumn(t.getChild('f16')!, w, 'f16')]).toEqual(Array.from({ length: 10 }, (_, i) => 0.5 * i));
      expect([...numericColumn(t.getChild('f32')!, w, 'f32')]).toEqual(Array.from({ length: 10 }, (_, i) => 0.25 * i));
      expect([...numericColumn(t.getChild('i8')!, w, 'i8')]).toEqual(Array.from({ length: 10 }, (_, i) => i - 5));
      expect([...numericColumn(t.getChild('u32')!, w, 'u32')]).toEqual(Array.from({ length: 10 }, (_, i) => i * 1000));
      const i64 = numericColumn(t.getChild('i64')!, w, 'i64');
      expect(Number.isNaN(i64[3])).toBe(true);
      expect(i64[9]).toBe(9);
      const city = codedColumn(t.getChild('city')!, w, 'city');
      expect([...city.codes].map((c) => (c < 0 ? null : city.dict[c]))).toEqual([
        'a',
        'b',
        null,
        'a',
        'c',
        'a',
        'b',
        'b',
        'a',
        'c',
      ]);
      const big = codedColumn(t.getChild('big')!, w, 'big');
      expect(big.dict[big.codes[4]!]).toBe('x1');
    }
  });

  it('reads only the requested columns, and records the file columns for errors', async () => {
    const { table } = await readRawFile(access, file('all.parquet'), {
      field: 'data.events',
      columns: ['city', 'id', 'nope'],
    });
    expect(table.schema.fields.map((f) => f.name).sort()).toEqual(['city', 'id']);
    expect(table.schema.metadata.get('mlo.file-columns')).toContain('num_text');
  });

  it('skips row groups whose time statistics lie outside the range', async () => {
    const footerOf = (b: Uint8Array) => {
      const len = new DataView(b.buffer, b.byteOffset).getUint32(b.length - 8, true);
      return b.subarray(b.length - 8 - len, b.length - 8);
    };
    const bytes = new Uint8Array(readFileSync(path.join(dir, 'all.parquet')));
    const ranges = rowGroupRanges(footerOf(bytes), 'ts_us');
    expect(ranges).toEqual([
      { minMs: BASE, maxMs: BASE + 3 * H },
      { minMs: BASE + 4 * H, maxMs: BASE + 7 * H },
      { minMs: BASE + 8 * H, maxMs: BASE + 9 * H },
    ]);
    expect(rowGroupRanges(footerOf(bytes), 'day')![2]).toEqual({ minMs: BASE + 8 * 24 * H, maxMs: BASE + 9 * 24 * H });
    expect(rowGroupRanges(footerOf(bytes), 'city')).toBeUndefined();
    const blob = await access.blob(file('all.parquet'));
    const r = await readParquet(blob, 'all.parquet', {
      columns: ['id'],
      timeRange: { column: 'ts_us', fromMs: BASE + 5 * H, toMs: BASE + 8 * H },
    });
    expect(r.rowGroups).toEqual({ total: 3, read: 1 });
    expect([...idColumn(r.table.getChild('id')!, 'x', 'id')]).toEqual([5, 6, 7, 8]);
  });
});

describe('partitions, layouts and formats', () => {
  it('knows the Hive layouts and skips markers, hidden files and checksums', () => {
    expect(dayOfKey('day=2026-01-02/part-0.parquet')).toEqual({ layout: 'day', day: '2026-01-02' });
    expect(dayOfKey('dt=2026-01-02/x/part-0.parquet')).toEqual({ layout: 'dt', day: '2026-01-02' });
    expect(dayOfKey('date=2026-01-02/a.arrow')).toEqual({ layout: 'date', day: '2026-01-02' });
    expect(dayOfKey('year=2026/month=1/day=2/a')).toEqual({ layout: 'year/month/day', day: '2026-01-02' });
    for (const k of [
      'day=2026-01-02/_SUCCESS',
      'day=2026-01-02/.part-0.parquet.crc',
      'day=2026-01-02/part-0.parquet.crc',
      'day=2026-01-02/_temporary/0/part-0.parquet',
      'day=2026-02-30/part-0.parquet',
      'day=2026-01-02',
    ])
      expect(dayOfKey(k), k).toBeUndefined();
    const objects = ['b', 'a', '_SUCCESS'].map((n) => ({ key: `p/dt=2026-01-02/${n}`, etag: n, size: 1 }));
    const g = groupByDay('p/', objects, 'day');
    expect(g.days.size).toBe(0);
    expect(layoutHint(g.otherLayouts, 'data.labels')).toMatch(
      /2 file\(s\) under dt=YYYY-MM-DD\/: set data\.labels\.partition: dt/,
    );
    expect(
      groupByDay('p/', objects, 'dt')
        .days.get('2026-01-02')!
        .map((f) => f.etag),
    ).toEqual(['a', 'b']);
  });

  it('reads every file of a day as one table in key order', async () => {
    const r = await readDayFiles(access, [file('p0.parquet'), file('p1.parquet')], {
      field: 'data.events',
      columns: ['id', 'city'],
    });
    expect(r!.files).toBe(2);
    expect([...idColumn(r!.table.getChild('id')!, 'x', 'id')]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Their dictionaries differ per file and row group: one shared dictionary now.
    expect(new Set(r!.table.getChild('city')!.data.map((d) => d.dictionary)).size).toBe(1);
  });

  it('detects formats by magic bytes and refuses what is neither or not the declared one', async () => {
    expect(detectFormat(new TextEncoder().encode('PAR1xxxx'))).toBe('parquet');
    expect(detectFormat(new TextEncoder().encode('ARROW1\0\0'))).toBe('arrow');
    await expect(readRawFile(access, file('notes.csv'), { field: 'data.events' })).rejects.toThrow(
      /notes\.csv is neither Parquet \(PAR1\) nor Arrow IPC \(ARROW1\): it starts with "id,ts.1,"/,
    );
    await expect(
      readRawFile(access, file('all.arrow'), { field: 'data.labels', source: { format: 'parquet' } }),
    ).rejects.toThrow(/all\.arrow is an Arrow IPC file, but data\.labels\.format declares parquet/);
  });

  it('casts declared columns, and names the row and value that do not convert', async () => {
    const ok = await readRawFile(access, file('p0.parquet'), {
      field: 'data.events',
      columns: ['num_text', 'ts_ns', 'price'],
      source: { casts: { num_text: 'float64', ts_ns: 'timestamp', price: 'float64' } },
    });
    expect(String(ok.table.getChild('num_text')!.type)).toBe('Float64');
    expect(String(ok.table.getChild('ts_ns')!.type)).toBe('Timestamp<MILLISECOND, UTC>');
    const x = numericColumn(ok.table.getChild('num_text')!, 'x', 'num_text');
    expect([x[0], x[1], x[4]]).toEqual([1.5, 2, -300]);
    expect(Number.isNaN(x[2]) && Number.isNaN(x[3])).toBe(true);
    await expect(
      readRawFile(access, file('p0.parquet'), { field: 'data.events', source: { casts: { num_text: 'int64' } } }),
    ).rejects.toThrow(
      /p0\.parquet: column "num_text" \(Utf8\) holds 1\.5 at row 0, which does not convert to int64 \(data\.events\.casts\.num_text\)/,
    );
    await expect(
      readRawFile(access, file('all.parquet'), { field: 'data.events', source: { casts: { num_text: 'float64' } } }),
    ).rejects.toThrow(/holds "eleven" at row 9, which does not convert to float64/);
  });
});
