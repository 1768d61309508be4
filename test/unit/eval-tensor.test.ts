/**
 * Arrow feature columns → the row-major float32 tensor: layout, zero-copy views, nulls,
 * several record batches, row selection, and the non-finite policy (±Infinity and values out of
 * float32 range always rejected; NaN only where every model takes missing values).
 */
import { Float32, Float64, makeData, makeVector, Table, tableFromArrays, Utf8, vectorFromArray } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../lib/core/errors';
import { featureColumns, fillTensor, float64Column, newFillStats } from '../../lib/eval/tensor';

const allow = { allowNaN: true };
const refuse = {
  allowNaN: false,
  refusal: 'candidate v2 cannot take missing values (its input feeds LinearClassifier)',
};

function tensor(t: Table, names: string[], rows: Int32Array | null = null, policy = allow) {
  const m = featureColumns(t, names, 'part.arrow');
  const n = rows ? rows.length : t.numRows;
  const out = new Float32Array(n * names.length);
  const stats = newFillStats(names.length);
  fillTensor(out, m, rows, 0, n, policy, stats, 'part.arrow');
  return { out, stats };
}

describe('float64Column', () => {
  it('is a zero-copy view of a one-chunk Float64 column without nulls', () => {
    const values = new Float64Array([1, 2, 3]);
    const t = new Table({ a: makeVector(values) });
    const col = float64Column(t.getChild('a')!, 'x', 'a');
    expect(col.buffer).toBe(t.getChild('a')!.data[0]!.values.buffer);
    expect([...col]).toEqual([1, 2, 3]);
  });

  it('copies nulls as NaN, concatenates record batches, and reads other numeric types', () => {
    const withNulls = makeVector(
      makeData({
        type: new Float64(),
        length: 3,
        nullCount: 1,
        nullBitmap: Uint8Array.from([0b101]),
        data: new Float64Array([1, 99, 3]),
      }),
    );
    expect([...float64Column(withNulls, 'x', 'a')]).toEqual([1, NaN, 3]);
    const two = tableFromArrays({ a: new Float64Array([1, 2]) }).concat(tableFromArrays({ a: new Float64Array([3]) }));
    expect(two.getChild('a')!.data.length).toBe(2);
    expect([...float64Column(two.getChild('a')!, 'x', 'a')]).toEqual([1, 2, 3]);
    const f32 = makeVector(makeData({ type: new Float32(), length: 2, data: new Float32Array([0.5, 1.5]) }));
    expect([...float64Column(f32, 'x', 'a')]).toEqual([0.5, 1.5]);
    expect(() => float64Column(vectorFromArray(['a'], new Utf8()), 'part.arrow', 'country')).toThrow(
      /column "country" is Utf8, not numeric/,
    );
  });
});

describe('fillTensor', () => {
  const t = tableFromArrays({
    id: new Float64Array([10, 11, 12]),
    f0: new Float64Array([0.1, 0.2, 0.3]),
    f1: new Float64Array([1, 2, 3]),
    f2: new Float64Array([100, 200, 300]),
  });

  it('writes rows row-major [N, F] in the requested column order', () => {
    const { out } = tensor(t, ['f2', 'f0', 'f1']);
    expect([...out]).toEqual([100, Math.fround(0.1), 1, 200, Math.fround(0.2), 2, 300, Math.fround(0.3), 3]);
  });

  it('takes a row selection, and a batch [start, end) of it', () => {
    expect([...tensor(t, ['f1', 'f2'], Int32Array.from([2, 0])).out]).toEqual([3, 300, 1, 100]);
    const m = featureColumns(t, ['f1'], 'p');
    const out = new Float32Array(2).fill(-1);
    fillTensor(out, m, Int32Array.from([0, 1, 2]), 1, 2, allow, newFillStats(1), 'p');
    expect([...out]).toEqual([2, -1]);
  });

  it('names a missing feature column', () => {
    expect(() => featureColumns(t, ['f0', 'nope'], 'part.arrow')).toThrow(
      /part.arrow has no feature column "nope"; its columns are: id, f0, f1, f2/,
    );
  });

  it('passes NaN when allowed and counts it per column', () => {
    const u = tableFromArrays({ a: new Float64Array([NaN, 1, NaN]), b: new Float64Array([1, 2, 3]) });
    const { out, stats } = tensor(u, ['a', 'b']);
    expect(Number.isNaN(out[0]!)).toBe(true);
    expect(out[2]).toBe(1);
    expect([...stats.nanPerColumn]).toEqual([2, 0]);
  });

  it('refuses NaN for a model that cannot take missing values, naming the column, the row and why', () => {
    const u = tableFromArrays({ a: new Float64Array([1, NaN, NaN]) });
    const err = (() => {
      try {
        tensor(u, ['a'], null, refuse);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(BadInputError);
    expect(err!.message).toBe(
      'part.arrow: feature "a" is NaN (missing) at row 1 and 1 more row(s) of this batch; ' +
        'candidate v2 cannot take missing values (its input feeds LinearClassifier)',
    );
  });

  it('always refuses ±Infinity and values beyond float32 range', () => {
    expect(() => tensor(tableFromArrays({ a: new Float64Array([1, -Infinity]) }), ['a'])).toThrow(
      /feature "a" is -Infinity at row 1; infinite feature values are not allowed/,
    );
    expect(() => tensor(tableFromArrays({ a: new Float64Array([1e39]) }), ['a'])).toThrow(
      /feature "a" is 1e\+39 at row 0, outside the float32 range/,
    );
    // the largest float32 itself is fine
    expect(tensor(tableFromArrays({ a: new Float64Array([3.4028234663852886e38]) }), ['a']).out[0]).toBe(
      3.4028234663852886e38,
    );
  });

  // Its speed is measured by `npm run bench -- scoring`, not asserted here.
  it('builds a 1M × 8 row-major tensor from the Arrow columns', () => {
    const n = 1_000_000;
    const cols: Record<string, Float64Array> = {};
    for (let f = 0; f < 8; f++) cols[`f${f}`] = Float64Array.from({ length: n }, (_, i) => (i % 1000) / 1000 + f);
    const big = tableFromArrays(cols);
    const { out } = tensor(big, Object.keys(cols));
    expect(out).toHaveLength(8 * n);
    expect(out[8 * 999_999 + 7]).toBe(Math.fround(0.999 + 7));
    expect(out[8 * 123_456 + 3]).toBe(Math.fround(0.456 + 3));
  });
});
