/**
 * Row layout for the windowed-feature kernel: groups the valid rows of a partition by
 * entity, orders each entity's rows by time, and records where the target rows sit.
 *
 * Everything here works on typed arrays; nothing allocates per row. The steps:
 *  1. keys → dense group ids (direct offset when the key range is compact, else a
 *     typed-array hash map), rows with a null key or a non-finite timestamp get none;
 *  2. a stable counting sort by group id (so rows that arrive time-ordered stay
 *     time-ordered inside their group, the common case);
 *  3. only groups that hold at least one target row are kept ("active");
 *  4. each active group is checked for time order and, only if out of order, sorted:
 *     insertion sort for small groups, an LSD radix sort on the IEEE-754 bit pattern of
 *     the timestamps (skipping digits that are constant in the group) for the rest.
 */

/** Which input rows are targets: a half-open row range, or a 0/1 mask over all rows. */
export type TargetSelection = { kind: 'range'; start: number; end: number } | { kind: 'mask'; mask: Uint8Array };

export interface Layout {
  /** Number of valid rows (non-null key, finite timestamp); length of `order`, `sts`, `outIdx`. */
  readonly numValid: number;
  /** Sorted position → input row. Only positions inside active groups are time-sorted. */
  readonly order: Int32Array;
  /** Sorted position → timestamp. */
  readonly sts: Float64Array;
  /** Sorted position → index of the row among the target rows (output slot), or -1. */
  readonly outIdx: Int32Array;
  /** Active groups, four Int32 per group: start, end (exclusive), first target position, last target position. */
  readonly groups: Int32Array;
  readonly numGroups: number;
  /** Size of the largest active group (sizes scratch buffers). */
  readonly maxGroupSize: number;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const INSERTION_SORT_MAX = 64;

/**
 * A growable open-addressing hash map from non-negative int32 to a dense index
 * 0, 1, 2, … in first-seen order. Memory is proportional to the number of distinct keys.
 */
export class DenseIndex {
  private keys: Int32Array;
  private vals: Int32Array;
  private mask: number;
  private shift: number;
  size = 0;

  constructor(expected = 1024) {
    let cap = 16;
    while (cap < expected * 2 && cap < 1 << 30) cap *= 2;
    this.keys = new Int32Array(cap).fill(-1);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
  }

  /** The dense index of `k` (k >= 0), assigning the next one if `k` is new. */
  get(k: number): number {
    const keys = this.keys;
    let h = Math.imul(k, 0x9e3779b1) >>> this.shift;
    for (;;) {
      const cur = keys[h]!;
      if (cur === k) return this.vals[h]!;
      if (cur === -1) break;
      h = (h + 1) & this.mask;
    }
    const v = this.size++;
    keys[h] = k;
    this.vals[h] = v;
    if (this.size * 2 > keys.length) this.grow();
    return v;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    const cap = oldKeys.length * 2;
    this.keys = new Int32Array(cap).fill(-1);
    this.vals = new Int32Array(cap);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    for (let i = 0; i < oldKeys.length; i++) {
      const k = oldKeys[i]!;
      if (k === -1) continue;
      let h = Math.imul(k, 0x9e3779b1) >>> this.shift;
      while (this.keys[h] !== -1) h = (h + 1) & this.mask;
      this.keys[h] = k;
      this.vals[h] = oldVals[i]!;
    }
  }
}

/** Dense group id per input row (-1: null key or non-finite timestamp) and the number of ids. */
function denseGroups(ts: Float64Array, key: Int32Array): { gid: Int32Array; numIds: number } {
  const n = ts.length;
  const gid = new Int32Array(n);
  let min = 0x7fffffff;
  let max = -1;
  for (let i = 0; i < n; i++) {
    const k = key[i]!;
    if (k < 0 || !Number.isFinite(ts[i]!)) continue;
    if (k < min) min = k;
    if (k > max) max = k;
  }
  if (max < 0) return { gid: gid.fill(-1), numIds: 0 };
  const range = max - min + 1;
  if (range <= Math.max(2 * n, 1 << 16)) {
    for (let i = 0; i < n; i++) {
      const k = key[i]!;
      gid[i] = k < 0 || !Number.isFinite(ts[i]!) ? -1 : k - min;
    }
    return { gid, numIds: range };
  }
  const index = new DenseIndex();
  for (let i = 0; i < n; i++) {
    const k = key[i]!;
    gid[i] = k < 0 || !Number.isFinite(ts[i]!) ? -1 : index.get(k);
  }
  return { gid, numIds: index.size };
}

/** Scratch buffers for the radix sort, grown on demand and reused across groups. */
class SortScratch {
  f64 = new Float64Array(0);
  u32 = new Uint32Array(0);
  loA = new Uint32Array(0);
  hiA = new Uint32Array(0);
  ixA = new Int32Array(0);
  loB = new Uint32Array(0);
  hiB = new Uint32Array(0);
  ixB = new Int32Array(0);
  tmpOrder = new Int32Array(0);
  tmpOut = new Int32Array(0);
  hist = new Int32Array(256);

  ensure(m: number): void {
    if (this.f64.length >= m) return;
    this.f64 = new Float64Array(m);
    this.u32 = new Uint32Array(this.f64.buffer);
    this.loA = new Uint32Array(m);
    this.hiA = new Uint32Array(m);
    this.ixA = new Int32Array(m);
    this.loB = new Uint32Array(m);
    this.hiB = new Uint32Array(m);
    this.ixB = new Int32Array(m);
    this.tmpOrder = new Int32Array(m);
    this.tmpOut = new Int32Array(m);
  }
}

/**
 * What a group sort rearranges, by sorted position: the input row, its output slot and its
 * timestamp; and the timestamps by input row (`ts`).
 */
type Positions = { order: Int32Array; outIdx: Int32Array; sts: Float64Array; ts: Float64Array };

/** Stable insertion sort of positions [a, b) by timestamp, moving `order` and `outIdx` along. */
function insertionSort(pos: Positions, a: number, b: number): void {
  const { order, outIdx, sts } = pos;
  for (let i = a + 1; i < b; i++) {
    const t = sts[i]!;
    const row = order[i]!;
    const slot = outIdx[i]!;
    let j = i - 1;
    while (j >= a && sts[j]! > t) {
      sts[j + 1] = sts[j]!;
      order[j + 1] = order[j]!;
      outIdx[j + 1] = outIdx[j]!;
      j--;
    }
    sts[j + 1] = t;
    order[j + 1] = row;
    outIdx[j + 1] = slot;
  }
}

/** Apply a permutation of the group [a, b): new position a+i takes old position a+perm[i]. */
function permuteGroup(pos: Positions, a: number, b: number, perm: Int32Array, s: SortScratch): void {
  const { order, outIdx, sts, ts } = pos;
  const m = b - a;
  const tmpOrder = s.tmpOrder;
  const tmpOut = s.tmpOut;
  for (let i = 0; i < m; i++) {
    tmpOrder[i] = order[a + i]!;
    tmpOut[i] = outIdx[a + i]!;
  }
  for (let i = 0; i < m; i++) {
    const k = perm[i]!;
    const row = tmpOrder[k]!;
    order[a + i] = row;
    outIdx[a + i] = tmpOut[k]!;
    sts[a + i] = ts[row]!;
  }
}

/**
 * Stable LSD radix sort of positions [a, b) by timestamp: 8 passes of 8 bits over the
 * order-preserving transform of the float64 bit pattern, skipping any pass whose digit is
 * the same for every row of the group (integer epoch-ms timestamps of one entity usually
 * need 3 to 5 passes).
 */
function radixSort(pos: Positions, a: number, b: number, s: SortScratch): void {
  const sts = pos.sts;
  const m = b - a;
  s.ensure(m);
  const f64 = s.f64;
  const u32 = s.u32;
  for (let i = 0; i < m; i++) f64[i] = sts[a + i]!;
  let lo = s.loA;
  let hi = s.hiA;
  let ix = s.ixA;
  let lo2 = s.loB;
  let hi2 = s.hiB;
  let ix2 = s.ixB;
  for (let i = 0; i < m; i++) {
    let l = u32[2 * i]!;
    let h = u32[2 * i + 1]!;
    if (h & 0x80000000) {
      h = ~h >>> 0;
      l = ~l >>> 0;
    } else {
      h = (h | 0x80000000) >>> 0;
    }
    lo[i] = l;
    hi[i] = h;
    ix[i] = i;
  }
  const hist = s.hist;
  for (let pass = 0; pass < 8; pass++) {
    const shift = (pass & 3) * 8;
    const useHi = pass >= 4;
    hist.fill(0);
    const src = useHi ? hi : lo;
    for (let i = 0; i < m; i++) {
      const d = (src[i]! >>> shift) & 255;
      hist[d] = hist[d]! + 1;
    }
    let constant = false;
    let sum = 0;
    for (let d = 0; d < 256; d++) {
      const c = hist[d]!;
      if (c === m) constant = true;
      hist[d] = sum;
      sum += c;
    }
    if (constant) continue;
    for (let i = 0; i < m; i++) {
      const d = (src[i]! >>> shift) & 255;
      const dst = hist[d]!;
      hist[d] = dst + 1;
      lo2[dst] = lo[i]!;
      hi2[dst] = hi[i]!;
      ix2[dst] = ix[i]!;
    }
    [lo, lo2] = [lo2, lo];
    [hi, hi2] = [hi2, hi];
    [ix, ix2] = [ix2, ix];
  }
  permuteGroup(pos, a, b, ix, s);
}

/** Fallback for big-endian hosts: a comparator sort (stable: ties keep their order). */
function comparatorSort(pos: Positions, a: number, b: number, s: SortScratch): void {
  const sts = pos.sts;
  const m = b - a;
  s.ensure(m);
  const perm = s.ixA.subarray(0, m);
  for (let i = 0; i < m; i++) perm[i] = i;
  perm.sort((x, y) => sts[a + x]! - sts[a + y]! || x - y);
  permuteGroup(pos, a, b, perm, s);
}

/** Whether positions [a, b) are in time order. */
function isTimeSorted(sts: Float64Array, a: number, b: number): boolean {
  let prev = -Infinity;
  for (let p = a; p < b; p++) {
    const t = sts[p]!;
    if (t < prev) return false;
    prev = t;
  }
  return true;
}

/** First position of [a, b) holding a target row, or -1. */
function firstTarget(outIdx: Int32Array, a: number, b: number): number {
  for (let p = a; p < b; p++) if (outIdx[p]! >= 0) return p;
  return -1;
}

/** Last position of [a, b) holding a target row, or -1. */
function lastTarget(outIdx: Int32Array, a: number, b: number): number {
  for (let p = b - 1; p >= a; p--) if (outIdx[p]! >= 0) return p;
  return -1;
}

/** Build the layout. `ts` and `key` have one entry per input row. */
export function buildLayout(ts: Float64Array, key: Int32Array, targets: TargetSelection): Layout {
  const { gid, numIds } = denseGroups(ts, key);
  const { start, order, outIdx, sts } = placeByGroup(ts, gid, numIds, targets);
  const { groups, numGroups, maxGroupSize } = activeGroups(start, numIds, outIdx);
  sortGroups({ order, outIdx, sts, ts }, groups, numGroups);
  return { numValid: order.length, order, sts, outIdx, groups, numGroups, maxGroupSize };
}

/**
 * Stable counting sort of the valid rows by group id: group g holds positions
 * [start[g], start[g + 1]); output slots are assigned in input-row order.
 */
function placeByGroup(
  ts: Float64Array,
  gid: Int32Array,
  numIds: number,
  targets: TargetSelection,
): { start: Int32Array; order: Int32Array; outIdx: Int32Array; sts: Float64Array } {
  const n = ts.length;
  const start = new Int32Array(numIds + 1);
  for (let i = 0; i < n; i++) {
    const g = gid[i]!;
    if (g >= 0) start[g + 1] = start[g + 1]! + 1;
  }
  for (let g = 0; g < numIds; g++) start[g + 1] = start[g + 1]! + start[g]!;
  const numValid = start[numIds]!;
  const fill = start.slice(0, numIds);
  const order = new Int32Array(numValid);
  const outIdx = new Int32Array(numValid);
  const sts = new Float64Array(numValid);
  let rank = 0;
  if (targets.kind === 'range') {
    const { start: t0, end: t1 } = targets;
    for (let i = 0; i < n; i++) {
      const g = gid[i]!;
      if (g < 0) continue;
      const pos = fill[g]!;
      fill[g] = pos + 1;
      order[pos] = i;
      sts[pos] = ts[i]!;
      outIdx[pos] = i >= t0 && i < t1 ? i - t0 : -1;
    }
  } else {
    const mask = targets.mask;
    for (let i = 0; i < n; i++) {
      const isTarget = mask[i] !== 0;
      const g = gid[i]!;
      if (g >= 0) {
        const pos = fill[g]!;
        fill[g] = pos + 1;
        order[pos] = i;
        sts[pos] = ts[i]!;
        outIdx[pos] = isTarget ? rank : -1;
      }
      if (isTarget) rank++;
    }
  }
  return { start, order, outIdx, sts };
}

/** The groups with at least one target row, four Int32 each (see Layout.groups), and the largest one's size. */
function activeGroups(
  start: Int32Array,
  numIds: number,
  outIdx: Int32Array,
): { groups: Int32Array; numGroups: number; maxGroupSize: number } {
  let numGroups = 0;
  let groups = new Int32Array(64);
  let maxGroupSize = 0;
  for (let g = 0; g < numIds; g++) {
    const a = start[g]!;
    const b = start[g + 1]!;
    const first = firstTarget(outIdx, a, b);
    if (first < 0) continue;
    if ((numGroups + 1) * 4 > groups.length) {
      const bigger = new Int32Array(groups.length * 2);
      bigger.set(groups);
      groups = bigger;
    }
    groups[numGroups * 4] = a;
    groups[numGroups * 4 + 1] = b;
    groups[numGroups * 4 + 2] = first;
    groups[numGroups * 4 + 3] = lastTarget(outIdx, a, b);
    numGroups++;
    if (b - a > maxGroupSize) maxGroupSize = b - a;
  }
  return { groups: groups.subarray(0, numGroups * 4), numGroups, maxGroupSize };
}

/** Sorts by time the active groups that are out of time order, and records their targets' new span. */
function sortGroups(pos: Positions, groups: Int32Array, numGroups: number): void {
  const { outIdx, sts } = pos;
  const scratch = new SortScratch();
  for (let g = 0; g < numGroups; g++) {
    const a = groups[g * 4]!;
    const b = groups[g * 4 + 1]!;
    if (isTimeSorted(sts, a, b)) continue;
    if (b - a <= INSERTION_SORT_MAX) insertionSort(pos, a, b);
    else if (LITTLE_ENDIAN) radixSort(pos, a, b, scratch);
    else comparatorSort(pos, a, b, scratch);
    groups[g * 4 + 2] = firstTarget(outIdx, a, b);
    groups[g * 4 + 3] = lastTarget(outIdx, a, b);
  }
}
