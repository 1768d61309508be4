/**
 * Just enough of the ONNX protobuf (onnx/onnx.proto3) to tell what a model file is and whether
 * it handles missing values: the graph's inputs and outputs, its nodes (op type, inputs,
 * outputs, float attributes) and metadata. A hand-written reader of the protobuf wire format, so
 * mlo needs no protobuf or onnx package; fields it does not know are skipped.
 */

export type OnnxNode = {
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  floatAttrs: Record<string, number>;
};

export type OnnxGraphInfo = {
  irVersion: number;
  producer: string;
  opsets: { domain: string; version: number }[];
  /** Graph inputs that are not initializers (the model's real inputs). */
  inputs: string[];
  outputs: string[];
  nodes: OnnxNode[];
  metadata: Record<string, string>;
};

class Reader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly end = buf.length,
    start = 0,
  ) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new Error('malformed varint');
  }

  /** [start, end) of a length-delimited field's bytes. */
  bytes(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    const end = start + len;
    if (end > this.end)
      throw new Error(`a length-delimited field runs past its message (${len} bytes at offset ${start})`);
    this.pos = end;
    return [start, end];
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.advance(8);
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.advance(4);
    else throw new Error(`unsupported protobuf wire type ${wire} at offset ${this.pos}`);
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new Error('truncated fixed-width field');
    this.pos += n;
  }

  /** Iterates the fields of the message in [pos, end). */
  *fields(): Generator<{ field: number; wire: number }> {
    while (this.pos < this.end) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (field === 0) throw new Error(`field number 0 at offset ${this.pos}`);
      yield { field, wire };
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function str(r: Reader, wire: number): string {
  if (wire !== 2) throw new Error(`expected a string field, got wire type ${wire}`);
  const [s, e] = r.bytes();
  return utf8.decode(r.buf.subarray(s, e));
}

function sub(r: Reader, wire: number): Reader {
  if (wire !== 2) throw new Error(`expected a message field, got wire type ${wire}`);
  const [s, e] = r.bytes();
  return new Reader(r.buf, e, s);
}

function float32At(buf: Uint8Array, at: number): number {
  return new DataView(buf.buffer, buf.byteOffset + at, 4).getFloat32(0, true);
}

function readName(r: Reader): string {
  // ValueInfoProto: name = 1
  let name = '';
  for (const { field, wire } of r.fields()) {
    if (field === 1) name = str(r, wire);
    else r.skip(wire);
  }
  return name;
}

function readNode(r: Reader): OnnxNode {
  const node: OnnxNode = { opType: '', domain: '', inputs: [], outputs: [], floatAttrs: {} };
  for (const { field, wire } of r.fields()) {
    if (field === 1) node.inputs.push(str(r, wire));
    else if (field === 2) node.outputs.push(str(r, wire));
    else if (field === 4) node.opType = str(r, wire);
    else if (field === 7) node.domain = str(r, wire);
    else if (field === 5) {
      // AttributeProto: name = 1, f = 2 (float)
      const a = sub(r, wire);
      let name = '';
      let f: number | undefined;
      for (const x of a.fields()) {
        if (x.field === 1) name = str(a, x.wire);
        else if (x.field === 2 && x.wire === 5) {
          f = float32At(a.buf, a.pos);
          a.skip(5);
        } else a.skip(x.wire);
      }
      if (name && f !== undefined) node.floatAttrs[name] = f;
    } else r.skip(wire);
  }
  return node;
}

/** An OperatorSetIdProto: domain = 1, version = 2. */
function readOpset(o: Reader): { domain: string; version: number } {
  let domain = '';
  let version = 0;
  for (const x of o.fields()) {
    if (x.field === 1) domain = str(o, x.wire);
    else if (x.field === 2 && x.wire === 0) version = o.varint();
    else o.skip(x.wire);
  }
  return { domain, version };
}

/** A StringStringEntryProto: key = 1, value = 2. */
function readEntry(p: Reader): [string, string] {
  let key = '';
  let value = '';
  for (const x of p.fields()) {
    if (x.field === 1) key = str(p, x.wire);
    else if (x.field === 2) value = str(p, x.wire);
    else p.skip(x.wire);
  }
  return [key, value];
}

/** A GraphProto's nodes (1), initializer names (5), inputs (11) and outputs (12), into `info`. */
function readGraph(g: Reader, info: OnnxGraphInfo, initializers: Set<string>, inputs: string[]): void {
  for (const x of g.fields()) {
    if (x.field === 1) info.nodes.push(readNode(sub(g, x.wire)));
    else if (x.field === 5) {
      // TensorProto initializer: name = 8
      const t = sub(g, x.wire);
      for (const y of t.fields()) {
        if (y.field === 8) initializers.add(str(t, y.wire));
        else t.skip(y.wire);
      }
    } else if (x.field === 11) inputs.push(readName(sub(g, x.wire)));
    else if (x.field === 12) info.outputs.push(readName(sub(g, x.wire)));
    else g.skip(x.wire);
  }
}

/** Parses a ModelProto; throws an Error saying why the bytes are not an ONNX model. */
export function readOnnxGraph(bytes: Uint8Array): OnnxGraphInfo {
  if (bytes.length === 0) throw new Error('the file is empty');
  const info: OnnxGraphInfo = {
    irVersion: 0,
    producer: '',
    opsets: [],
    inputs: [],
    outputs: [],
    nodes: [],
    metadata: {},
  };
  const r = new Reader(bytes);
  let graphs = 0;
  const initializers = new Set<string>();
  const inputs: string[] = [];
  for (const { field, wire } of r.fields()) {
    if (field === 1 && wire === 0) info.irVersion = r.varint();
    else if (field === 2) info.producer = str(r, wire);
    else if (field === 8) info.opsets.push(readOpset(sub(r, wire)));
    else if (field === 14) {
      const [key, value] = readEntry(sub(r, wire));
      info.metadata[key] = value;
    } else if (field === 7) {
      graphs++;
      readGraph(sub(r, wire), info, initializers, inputs);
    } else r.skip(wire);
  }
  if (graphs !== 1)
    throw new Error(graphs === 0 ? 'it has no graph (not an ONNX ModelProto)' : 'it has several graphs');
  if (info.irVersion < 1) throw new Error('it has no ONNX IR version (not an ONNX ModelProto)');
  if (info.nodes.length === 0) throw new Error('its graph has no nodes');
  info.inputs = inputs.filter((n) => !initializers.has(n));
  return info;
}

/** Ops whose semantics define NaN as "missing" (ai.onnx.ml tree ensembles). */
const MISSING_AWARE = new Set(['TreeEnsembleClassifier', 'TreeEnsembleRegressor', 'TreeEnsemble']);
/** Ops that pass values through unchanged (a NaN stays a NaN for the next op). */
const PASS_THROUGH = new Set(['Identity', 'Cast', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);

/**
 * Whether the model declares how it treats a NaN input: every op that reads the input
 * (directly or through pass-through ops) is a tree ensemble, or an Imputer replacing NaN.
 * Returns the reason either way, for the report and for errors.
 */
export function missingValueHandling(g: OnnxGraphInfo, input: string): { handles: boolean; reason: string } {
  const reached = new Set([input]);
  const consumers: OnnxNode[] = [];
  const queue = [input];
  while (queue.length > 0) {
    const t = queue.shift()!;
    for (const node of g.nodes) {
      if (!node.inputs.includes(t)) continue;
      if (PASS_THROUGH.has(node.opType)) {
        for (const o of node.outputs) {
          if (!reached.has(o)) {
            reached.add(o);
            queue.push(o);
          }
        }
      } else if (!consumers.includes(node)) consumers.push(node);
    }
  }
  if (consumers.length === 0) return { handles: false, reason: `no operator reads the input "${input}"` };
  const refusing = consumers.filter((n) => {
    if (MISSING_AWARE.has(n.opType)) return false;
    if (n.opType === 'Imputer') return !Number.isNaN(n.floatAttrs.replaced_value_float ?? 0);
    return true;
  });
  const ops = [...new Set(consumers.map((n) => n.opType))].join(', ');
  if (refusing.length > 0) {
    return {
      handles: false,
      reason:
        `its input feeds ${[...new Set(refusing.map((n) => n.opType))].join(', ')}, ` +
        'which define no meaning for NaN (missing values)',
    };
  }
  return { handles: true, reason: `its input feeds only ${ops}, which treat NaN as missing` };
}
