/**
 * Hive-style day partitions of a raw-data prefix: which day a key belongs to under each layout,
 * which keys are data files (not `_SUCCESS`, `_`- or `.`-prefixed files or directories, `.crc`
 * checksums), and the layouts a listing actually uses (for errors that name the right fix).
 */
import type { PartitionLayout } from '../spec/data-source';

/** One object of a listing. */
export type RawFile = { key: string; etag: string; size: number };

/** A prefix's data files by day (YYYY-MM-DD), each day's files sorted by key. */
export type DayListing = Map<string, RawFile[]>;

const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;

function validDay(y: string, m: string, d: string): string | undefined {
  const day = `${y}-${m.padStart(2, '0')}-${d.padStart(2, '0')}`;
  if (!ISO_DAY.test(day)) return undefined;
  const t = Date.parse(`${day}T00:00:00Z`);
  return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === day ? day : undefined;
}

const SINGLE = /^(day|dt|date)=(\d{4})-(\d{2})-(\d{2})\/(.+)$/;
const NESTED = /^year=(\d{4})\/month=(\d{1,2})\/day=(\d{1,2})\/(.+)$/;

/** Whether the rest of a key below its day directory is a data file. */
export function isDataFile(rest: string): boolean {
  const parts = rest.split('/');
  if (parts.some((p) => p === '' || p.startsWith('_') || p.startsWith('.'))) return false;
  const name = parts[parts.length - 1]!;
  return !name.endsWith('.crc');
}

/** The layout and day of a key relative to its prefix, or undefined when it is not a day-partitioned data file. */
export function dayOfKey(rel: string): { layout: PartitionLayout; day: string } | undefined {
  const s = SINGLE.exec(rel);
  if (s) {
    const day = validDay(s[2]!, s[3]!, s[4]!);
    return day && isDataFile(s[5]!) ? { layout: s[1] as PartitionLayout, day } : undefined;
  }
  const n = NESTED.exec(rel);
  if (n) {
    const day = validDay(n[1]!, n[2]!, n[3]!);
    return day && isDataFile(n[4]!) ? { layout: 'year/month/day', day } : undefined;
  }
  return undefined;
}

/** The directory of a day under a layout, relative to the prefix (for messages). */
export function dayDir(layout: PartitionLayout, day: string): string {
  if (layout === 'year/month/day') {
    const [y, m, d] = day.split('-');
    return `year=${y}/month=${m}/day=${d}/`;
  }
  return `${layout}=${day}/`;
}

/**
 * Groups listed objects (keys under `prefix`) by day under `layout`; also counts the data files
 * found under other layouts, so a "missing partition" error can say which layout the data uses.
 */
export function groupByDay(
  prefix: string,
  objects: RawFile[],
  layout: PartitionLayout,
): { days: DayListing; otherLayouts: Map<PartitionLayout, number> } {
  const days: DayListing = new Map();
  const otherLayouts = new Map<PartitionLayout, number>();
  for (const o of objects) {
    if (!o.key.startsWith(prefix)) continue;
    const m = dayOfKey(o.key.slice(prefix.length));
    if (!m) continue;
    if (m.layout !== layout) {
      otherLayouts.set(m.layout, (otherLayouts.get(m.layout) ?? 0) + 1);
      continue;
    }
    const list = days.get(m.day) ?? [];
    list.push(o);
    days.set(m.day, list);
  }
  for (const l of days.values()) l.sort((a, b) => (a.key < b.key ? -1 : 1));
  return { days, otherLayouts };
}

/** A hint for an empty or gappy listing: the layouts the data under the prefix does use. */
export function layoutHint(otherLayouts: Map<PartitionLayout, number>, field: string): string {
  if (otherLayouts.size === 0) return '';
  const found = [...otherLayouts.entries()].map(([l, n]) => `${n} file(s) under ${dayDir(l, 'YYYY-MM-DD')}`);
  const best = [...otherLayouts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
  return ` The prefix holds ${found.join(' and ')}: set ${field}.partition: ${best} in the model spec.`;
}
