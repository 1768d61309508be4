/**
 * Loading a model for scoring: the ONNX reader, the schema checks against the snapshot's
 * feature columns, the probability output, missing-value handling, and scoring through
 * onnxruntime-node. The models are tiny ONNX graphs encoded by hand (test/helpers/onnx.ts), so
 * the test needs no Python.
 */
import { tableFromArrays } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../../lib/core/errors';
import { describeColumnDiff, parseProbabilityTag, ScoringModel, type LoadOptions } from '../../lib/eval/onnx-model';
import { missingValueHandling, readOnnxGraph, type OnnxGraphInfo } from '../../lib/eval/onnx-graph';
import { nanPolicyFor, scoreRows } from '../../lib/eval/score';
import { featureColumns } from '../../lib/eval/tensor';
import { VersionTag } from '../../lib/registry/tags';
import { f32, int, logistic, model, node, str, tensor, valueInfo } from '../helpers/onnx';

const FEATURES = ['a', 'b'];
const opts = (over: Partial<LoadOptions> = {}): LoadOptions => ({
  role: 'candidate',
  version: '2',
  uri: 's3://mlo/models/m.onnx',
  features: FEATURES,
  inputColumnsTag: JSON.stringify(FEATURES),
  probabilityTag: 'probabilities[0]',
  ...over,
});

async function loadError(bytes: Uint8Array, o: LoadOptions): Promise<Error> {
  try {
    const m = await ScoringModel.load(bytes, o);
    await m.release();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the model to be refused');
}

describe('the ONNX reader', () => {
  it('reads inputs, outputs, nodes and opsets, leaving initializers out of the inputs', () => {
    const bytes = model({
      nodes: [node('MatMul', ['features', 'W'], ['p'])],
      inits: [tensor('W', [2, 1], [1, 2])],
      inputs: [valueInfo('features', ['N', 2]), valueInfo('W', [2, 1])],
      outputs: [valueInfo('p', ['N', 1])],
      opsets: [
        ['', 13],
        ['ai.onnx.ml', 3],
      ],
    });
    const g = readOnnxGraph(bytes);
    expect(g.inputs).toEqual(['features']);
    expect(g.outputs).toEqual(['p']);
    expect(g.nodes.map((n) => n.opType)).toEqual(['MatMul']);
    expect(g.opsets).toEqual([
      { domain: '', version: 13 },
      { domain: 'ai.onnx.ml', version: 3 },
    ]);
    expect(g.producer).toBe('mlo-test');
  });

  it('says why bytes are not ONNX', () => {
    expect(() => readOnnxGraph(new Uint8Array())).toThrow('the file is empty');
    expect(() => readOnnxGraph(new TextEncoder().encode('{"kind": "mlo.feature-snapshot/v1"}'))).toThrow(
      /wire type|no graph|runs past/,
    );
    expect(() => readOnnxGraph(Uint8Array.from([0x08, 0x08]))).toThrow('it has no graph (not an ONNX ModelProto)');
  });

  it('declares missing-value handling only when the input feeds tree ensembles or a NaN imputer', () => {
    const g = (nodes: OnnxGraphInfo['nodes']): OnnxGraphInfo => ({
      irVersion: 8,
      producer: '',
      opsets: [],
      inputs: ['features'],
      outputs: ['probabilities'],
      nodes,
      metadata: {},
    });
    const n = (opType: string, inputs: string[], outputs: string[], floatAttrs: Record<string, number> = {}) => ({
      opType,
      domain: '',
      inputs,
      outputs,
      floatAttrs,
    });
    // onnxmltools' LightGBM export
    expect(
      missingValueHandling(
        g([n('TreeEnsembleClassifier', ['features'], ['l', 'p']), n('Identity', ['p'], ['probabilities'])]),
        'features',
      ).handles,
    ).toBe(true);
    // through a Cast
    expect(
      missingValueHandling(g([n('Cast', ['features'], ['x']), n('TreeEnsembleRegressor', ['x'], ['p'])]), 'features')
        .handles,
    ).toBe(true);
    // skl2onnx: SimpleImputer (replaced_value_float NaN) then a linear model
    expect(
      missingValueHandling(
        g([n('Imputer', ['features'], ['v'], { replaced_value_float: NaN }), n('LinearClassifier', ['v'], ['l', 'p'])]),
        'features',
      ).handles,
    ).toBe(true);
    // an imputer of another value does not make NaN safe
    expect(
      missingValueHandling(
        g([n('Imputer', ['features'], ['v'], { replaced_value_float: 0 }), n('LinearClassifier', ['v'], ['l', 'p'])]),
        'features',
      ).handles,
    ).toBe(false);
    const lin = missingValueHandling(g([n('LinearClassifier', ['features'], ['l', 'p'])]), 'features');
    expect(lin).toEqual({
      handles: false,
      reason: 'its input feeds LinearClassifier, which define no meaning for NaN (missing values)',
    });
  });

  it('reads float attributes (the Imputer case) from real bytes', () => {
    const bytes = model({
      nodes: [
        node('Imputer', ['features'], ['v'], [[...str(1, 'replaced_value_float'), ...f32(2, NaN)]], 'ai.onnx.ml'),
        node('Identity', ['v'], ['probabilities']),
      ],
      inits: [],
      inputs: [valueInfo('features', ['N', 2])],
      outputs: [valueInfo('probabilities', ['N', 2])],
      opsets: [
        ['', 13],
        ['ai.onnx.ml', 1],
      ],
    });
    const g = readOnnxGraph(bytes);
    expect(Number.isNaN(g.nodes[0]!.floatAttrs.replaced_value_float)).toBe(true);
    expect(missingValueHandling(g, 'features').handles).toBe(true);
  });
});

describe('ScoringModel', () => {
  it('loads a conforming model and scores rows through the Arrow → tensor path', async () => {
    const m = await ScoringModel.load(logistic([1, -1], 0.5), opts());
    try {
      expect(m.description).toMatchObject({
        label: 'candidate v2',
        input: { name: 'features', shape: ['N', 2] },
        probability: { name: 'probabilities', index: 0 },
        handlesMissing: false,
      });
      expect(m.description.sha256).toMatch(/^[0-9a-f]{64}$/);
      const t = tableFromArrays({
        a: new Float64Array([0, 1, 2, -3, 0.25]),
        b: new Float64Array([0, 0.5, 4, 1, 0.75]),
      });
      const [s] = await scoreRows([m], featureColumns(t, FEATURES, 'p.arrow'), null, {
        batchSize: 2,
        where: 'p.arrow',
      });
      const sig = (z: number) => 1 / (1 + Math.exp(-z));
      [0.5, 1, -1.5, -3.5, 0].forEach((z, i) => expect(s![i]).toBeCloseTo(sig(z), 6));
    } finally {
      await m.release();
    }
  });

  it("scores the trainers' one output `probability` [N], tagged or not", async () => {
    // p = sigmoid(features · w + b) as a vector [N]
    const bytes = model({
      nodes: [
        node('MatMul', ['features', 'W'], ['xw']),
        node('Add', ['xw', 'B'], ['z']),
        node('Sigmoid', ['z'], ['probability']),
      ],
      inits: [tensor('W', [2], [1, -1]), tensor('B', [1], [0.5])],
      inputs: [valueInfo('features', ['N', 2])],
      outputs: [valueInfo('probability', ['N'])],
    });
    const t = tableFromArrays({ a: new Float64Array([0, 1, 2]), b: new Float64Array([0, 0.5, 4]) });
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    for (const probabilityTag of ['probability[0]', 'probability', undefined]) {
      const m = await ScoringModel.load(bytes, opts({ probabilityTag }));
      try {
        expect(m.description.probability).toEqual({ name: 'probability', index: 0 });
        const [s] = await scoreRows([m], featureColumns(t, FEATURES, 'p.arrow'), null, { where: 'p.arrow' });
        [0.5, 1, -1.5].forEach((z, i) => expect(s![i]).toBeCloseTo(sig(z), 6));
      } finally {
        await m.release();
      }
    }
  });

  it('scores column 1 of `probabilities` [N, 2] beside a `label` output (versions registered before the one output)', async () => {
    // softmax(-z, z): column 1 is sigmoid(2z)
    const bytes = model({
      nodes: [
        node('MatMul', ['features', 'W'], ['xw']),
        node('Add', ['xw', 'B'], ['z2']),
        node('Softmax', ['z2'], ['probabilities']),
        node('ArgMax', ['z2'], ['label'], [[...str(1, 'axis'), ...int(3, 1), ...int(20, 2)]]),
      ],
      inits: [tensor('W', [2, 2], [-1, 1, 1, -1]), tensor('B', [2], [-0.5, 0.5])],
      inputs: [valueInfo('features', ['N', 2])],
      outputs: [valueInfo('label', ['N', 1], 7), valueInfo('probabilities', ['N', 2])],
    });
    const t = tableFromArrays({ a: new Float64Array([0, 1, 2]), b: new Float64Array([0, 0.5, 4]) });
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    for (const probabilityTag of ['probabilities[1]', undefined]) {
      const m = await ScoringModel.load(bytes, opts({ probabilityTag }));
      try {
        expect(m.description.probability).toEqual({ name: 'probabilities', index: 1 });
        const [s] = await scoreRows([m], featureColumns(t, FEATURES, 'p.arrow'), null, { where: 'p.arrow' });
        [0.5, 1, -1.5].forEach((z, i) => expect(s![i]).toBeCloseTo(sig(2 * z), 6));
      } finally {
        await m.release();
      }
    }
  });

  it('refuses a file that is not ONNX, naming the model', async () => {
    const err = await loadError(new TextEncoder().encode('not a model at all'), opts());
    expect(err).toBeInstanceOf(BadInputError);
    expect(err.message).toMatch(/^candidate v2 \(s3:\/\/mlo\/models\/m.onnx\) is not an ONNX model: /);
  });

  it('refuses input columns that differ from the snapshot, naming them', async () => {
    const err = await loadError(logistic([1, -1], 0), opts({ inputColumnsTag: JSON.stringify(['b', 'a']) }));
    expect(err).toBeInstanceOf(BadInputError);
    expect(err.message).toContain(
      `its input columns (${VersionTag.inputColumns}) are not the snapshot's feature columns in order: ` +
        'columns in another order: position 0: model "b", snapshot "a"; position 1: model "a", snapshot "b"',
    );
    const three = await loadError(
      logistic([1, -1, 2], 0),
      opts({ features: ['a', 'b'], inputColumnsTag: JSON.stringify(['a', 'b', 'c']) }),
    );
    expect(three.message).toContain('its input "features" takes 3 features, the snapshot has 2 (a, b)');
    expect(three.message).toContain('model columns not in the snapshot: c');
    const untagged = await loadError(logistic([1, -1], 0), opts({ inputColumnsTag: undefined }));
    expect(untagged.message).toContain('no mlo.input_columns tag');
  });

  it('refuses a model without a probability output', async () => {
    const noProb = await loadError(logistic([1, -1], 0, { outName: 'score' }), opts({ probabilityTag: undefined }));
    expect(noProb.message).toContain(
      'it has no probability output: its outputs are score, none is "probability" or "probabilities"',
    );
    const wrongTag = await loadError(logistic([1, -1], 0), opts({ probabilityTag: 'probs[1]' }));
    expect(wrongTag.message).toContain('it has no output "probs"');
    const badIndex = await loadError(logistic([1, -1], 0), opts({ probabilityTag: 'probabilities[1]' }));
    expect(badIndex.message).toContain(
      'its output "probabilities" has 1 column(s); the probability is said to be column 1',
    );
  });

  it('refuses a wrong input type or shape', async () => {
    const wide = await loadError(logistic([1, -1], 0, { inputDims: ['N', 2, 1] }), opts());
    expect(wide.message).toMatch(/input "features" has shape \[N, 2, 1\]|cannot be loaded/);
  });

  it('refuses outputs that are not probabilities, naming the row', async () => {
    const m = await ScoringModel.load(logistic([10, 0], 0, { sigmoid: false }), opts());
    try {
      const t = tableFromArrays({ a: new Float64Array([0.01, 0.5]), b: new Float64Array([0, 0]) });
      await expect(scoreRows([m], featureColumns(t, FEATURES, 'p.arrow'), null, { where: 'p.arrow' })).rejects.toThrow(
        /candidate v2: output "probabilities"\[0\] is 5 at row 1 of p.arrow, not a probability in \[0, 1\]/,
      );
    } finally {
      await m.release();
    }
  });

  it('refuses NaN features for a model without missing-value handling', async () => {
    const m = await ScoringModel.load(logistic([1, 1], 0), opts());
    try {
      expect(nanPolicyFor([m]).allowNaN).toBe(false);
      const t = tableFromArrays({ a: new Float64Array([1, NaN]), b: new Float64Array([0, 0]) });
      await expect(scoreRows([m], featureColumns(t, FEATURES, 'p.arrow'), null, { where: 'p.arrow' })).rejects.toThrow(
        /feature "a" is NaN \(missing\) at row 1 .*candidate v2 cannot take missing values \(its input feeds MatMul/,
      );
    } finally {
      await m.release();
    }
  });
});

describe('helpers', () => {
  it('parses the mlo.probability_output tag', () => {
    expect(parseProbabilityTag('probabilities[1]')).toEqual({ name: 'probabilities', index: 1 });
    expect(parseProbabilityTag('output_probability')).toEqual({ name: 'output_probability', index: undefined });
    expect(parseProbabilityTag('a b')).toBeUndefined();
  });

  it('describes column differences', () => {
    expect(describeColumnDiff(['a', 'x'], ['a', 'b', 'c'])).toBe(
      'the model takes 2 columns, the snapshot has 3 features; snapshot features the model does not take: b, c; ' +
        'model columns not in the snapshot: x',
    );
  });
});
