/**
 * The part of a Parquet footer (Thrift compact protocol, FileMetaData) that row-group pruning
 * needs and parquet-wasm does not expose: each row group's min/max statistics of one time column.
 */

type Value = number | bigint | boolean | Uint8Array | Value[] | Struct;
type Struct = Map<number, Value>;

class Reader {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}

  byte(): number {
    if (this.pos >= this.b.length) throw new Error('truncated footer');
    return this.b[this.pos++]!;
  }

  varint(): bigint {
    let shift = 0n;
    let out = 0n;
    for (;;) {
      const x = this.byte();
      out |= BigInt(x & 0x7f) << shift;
      if ((x & 0x80) === 0) return out;
      shift += 7n;
      if (shift > 70n) throw new Error('bad varint');
    }
  }

  zigzag(): bigint {
    const v = this.varint();
    return (v >> 1n) ^ -(v & 1n);
  }

  binary(): Uint8Array {
    const n = Number(this.varint());
    if (this.pos + n > this.b.length) throw new Error('truncated footer');
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  value(type: number): Value {
    switch (type) {
      case 1:
        return true;
      case 2:
        return false;
      case 3:
        return this.byte();
      case 4:
      case 5:
        return Number(this.zigzag());
      case 6:
        return this.zigzag();
      case 7:
        this.pos += 8;
        return 0;
      case 8:
        return this.binary();
      case 9:
      case 10:
        return this.list();
      case 11:
        return this.map();
      case 12:
        return this.struct();
      default:
        throw new Error(`unknown thrift type ${type}`);
    }
  }

  list(): Value[] {
    const h = this.byte();
    let n = h >> 4;
    if (n === 15) n = Number(this.varint());
    const t = h & 0x0f;
    const out: Value[] = [];
    for (let i = 0; i < n; i++) out.push(t === 1 || t === 2 ? this.byte() === 1 : this.value(t));
    return out;
  }

  map(): Value[] {
    const n = Number(this.varint());
    if (n === 0) return [];
    const kv = this.byte();
    const out: Value[] = [];
    for (let i = 0; i < n; i++) out.push([this.value(kv >> 4), this.value(kv & 0x0f)]);
    return out;
  }

  struct(): Struct {
    const s: Struct = new Map();
    let id = 0;
    for (;;) {
      const h = this.byte();
      const type = h & 0x0f;
      if (type === 0) return s;
      const delta = h >> 4;
      id = delta === 0 ? Number(this.zigzag()) : id + delta;
      s.set(id, this.value(type));
    }
  }
}

export type RowGroupRange = { minMs: number; maxMs: number };

const asStruct = (v: Value | undefined) => (v instanceof Map ? v : undefined);
const asList = (v: Value | undefined) => (Array.isArray(v) ? v : []);

/** The column's unit: ms per stored unit as a divisor of BigInt values, or undefined when it is not a time. */
function timeDivisor(el: Struct | undefined, physical: number): { div: bigint; mul: bigint } | undefined {
  if (!el) return undefined;
  const logical = asStruct(el.get(10));
  const ts = asStruct(logical?.get(8));
  if (ts && physical === 2) {
    const unit = asStruct(ts.get(2));
    if (unit?.has(1)) return { div: 1n, mul: 1n };
    if (unit?.has(2)) return { div: 1000n, mul: 1n };
    if (unit?.has(3)) return { div: 1_000_000n, mul: 1n };
    return undefined;
  }
  if (logical?.has(6) && physical === 1) return { div: 1n, mul: 86_400_000n }; // DATE
  const converted = el.get(6);
  if (physical === 2 && converted === 9) return { div: 1n, mul: 1n };
  if (physical === 2 && converted === 10) return { div: 1000n, mul: 1n };
  if (physical === 1 && converted === 6) return { div: 1n, mul: 86_400_000n };
  return undefined;
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

function readInt(b: Uint8Array, physical: number): bigint | undefined {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (physical === 2 && b.length === 8) return dv.getBigInt64(0, true);
  if (physical === 1 && b.length === 4) return BigInt(dv.getInt32(0, true));
  return undefined;
}

/**
 * Per row group, the [min, max] of a top-level time column (timestamp of any unit, or date) in
 * epoch ms; null for a row group without statistics. Undefined when the column is absent or not a
 * time column. Throws on a footer it cannot parse.
 */
export function rowGroupRanges(footer: Uint8Array, column: string): (RowGroupRange | null)[] | undefined {
  const meta = new Reader(footer).struct();
  const schema = asList(meta.get(2)).map(asStruct);
  // Direct children of the root: walk the depth-first schema list.
  let element: Struct | undefined;
  let i = 1;
  const rootChildren = Number(schema[0]?.get(5) ?? 0);
  for (let c = 0; c < rootChildren && i < schema.length; c++) {
    const el = schema[i]!;
    if (el && el.get(4) instanceof Uint8Array && new TextDecoder().decode(el.get(4) as Uint8Array) === column)
      element = el;
    // skip this child's subtree
    let pending = Number(el?.get(5) ?? 0);
    i++;
    while (pending > 0 && i < schema.length) {
      pending += Number(schema[i]?.get(5) ?? 0) - 1;
      i++;
    }
  }
  if (!element || element.get(5) !== undefined) return undefined;
  const physical = Number(element.get(1));
  const unit = timeDivisor(element, physical);
  if (!unit) return undefined;
  return asList(meta.get(4)).map((rg) => {
    const chunk = asList(asStruct(rg)?.get(1))
      .map((c) => asStruct(asStruct(c)?.get(3)))
      .find((md) => {
        const p = asList(md?.get(3));
        return p.length === 1 && p[0] instanceof Uint8Array && new TextDecoder().decode(p[0]) === column;
      });
    const stats = asStruct(chunk?.get(12));
    const min = (stats?.get(6) ?? stats?.get(2)) as Uint8Array | undefined;
    const max = (stats?.get(5) ?? stats?.get(1)) as Uint8Array | undefined;
    const lo = min instanceof Uint8Array ? readInt(min, physical) : undefined;
    const hi = max instanceof Uint8Array ? readInt(max, physical) : undefined;
    if (lo === undefined || hi === undefined) return null;
    return {
      minMs: Number(floorDiv(lo * unit.mul, unit.div)),
      maxMs: Number(floorDiv(hi * unit.mul, unit.div)),
    };
  });
}
