/**
 * Tiny ONNX models encoded by hand (protobuf wire format of onnx.proto3), so tests of scoring
 * need no Python.
 */
export function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
export const key = (field: number, wire: number) => varint(field * 8 + wire);
export const bytesField = (field: number, b: number[]) => [...key(field, 2), ...varint(b.length), ...b];
export const str = (field: number, s: string) => bytesField(field, [...new TextEncoder().encode(s)]);
export const int = (field: number, n: number) => [...key(field, 0), ...varint(n)];
export const f32 = (field: number, x: number) => [...key(field, 5), ...new Uint8Array(new Float32Array([x]).buffer)];

/** ValueInfoProto of a float tensor; dims are numbers or symbolic names. */
export function valueInfo(name: string, dims: (number | string)[], elemType = 1): number[] {
  const shape = dims.flatMap((d) => bytesField(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  const tensorType = [...int(1, elemType), ...bytesField(2, shape)];
  return [...str(1, name), ...bytesField(2, bytesField(1, tensorType))];
}
export function tensor(name: string, dims: number[], values: number[]): number[] {
  const raw = [...new Uint8Array(new Float32Array(values).buffer)];
  return [...dims.flatMap((d) => int(1, d)), ...int(2, 1), ...str(8, name), ...bytesField(9, raw)];
}
export function node(op: string, inputs: string[], outputs: string[], attrs: number[][] = [], domain = ''): number[] {
  return [
    ...inputs.flatMap((i) => str(1, i)),
    ...outputs.flatMap((o) => str(2, o)),
    ...str(4, op),
    ...attrs.flatMap((a) => bytesField(5, a)),
    ...(domain ? str(7, domain) : []),
  ];
}
export function model(o: {
  nodes: number[][];
  inits: number[][];
  inputs: number[][];
  outputs: number[][];
  opsets?: [string, number][];
}): Uint8Array {
  const graph = [
    ...o.nodes.flatMap((n) => bytesField(1, n)),
    ...str(2, 'g'),
    ...o.inits.flatMap((t) => bytesField(5, t)),
    ...o.inputs.flatMap((i) => bytesField(11, i)),
    ...o.outputs.flatMap((x) => bytesField(12, x)),
  ];
  const opsets = (o.opsets ?? [['', 13]]).flatMap(([d, v]) => bytesField(8, [...(d ? str(1, d) : []), ...int(2, v)]));
  return Uint8Array.from([...int(1, 8), ...str(2, 'mlo-test'), ...opsets, ...bytesField(7, graph)]);
}

/** p = sigmoid(features · w + b), output "probabilities" [N, 1]. */
export function logistic(
  w: number[],
  b: number,
  o: { sigmoid?: boolean; outName?: string; inputDims?: (number | string)[] } = {},
): Uint8Array {
  const F = w.length;
  const last = o.sigmoid === false ? 'z' : 'p';
  return model({
    nodes: [
      node('MatMul', ['features', 'W'], ['xw']),
      node('Add', ['xw', 'B'], ['z']),
      ...(o.sigmoid === false ? [] : [node('Sigmoid', ['z'], ['p'])]),
      node('Identity', [last], [o.outName ?? 'probabilities']),
    ],
    inits: [tensor('W', [F, 1], w), tensor('B', [1], [b])],
    inputs: [valueInfo('features', o.inputDims ?? ['N', F])],
    outputs: [valueInfo(o.outName ?? 'probabilities', ['N', 1])],
  });
}
