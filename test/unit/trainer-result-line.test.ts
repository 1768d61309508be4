/**
 * The trainer's result line (mlo.trainer/v1, trainers/README.md §4): its optional `mlflowModel`, the
 * MLflow model directory beside the ONNX file, whose files the training activity copies into the run.
 */
import { describe, expect, it } from 'vitest';
import { parseTrainerLine } from '../../lib/trainer/contract';

const base = {
  type: 'result',
  onnxUri: 's3://mlo/models/m/wf/trial-0/model-0123456789abcdef.onnx',
  metrics: { valid_auc: 0.8 },
  inputSchema: { name: 'features', dtype: 'float32', columns: ['a', 'b'] },
  outputs: { probability: 'probability', probabilityIndex: 0 },
};
const FILES = ['conda.yaml', 'input_example.json', 'model.onnx', 'requirements.txt', 'MLmodel'];
const dir = (over: Record<string, unknown> = {}) => ({
  uri: 's3://mlo/models/m/wf/trial-0/mlflow-model-0123456789abcdef/',
  files: FILES,
  flavor: 'onnx',
  ...over,
});
const parse = (line: unknown) => parseTrainerLine(JSON.stringify(line));

describe('the result line', () => {
  it('takes a result without an MLflow model (trainers of the earlier contract) and one with it', () => {
    const without = parse(base);
    expect(without.ok && without.value.type === 'result' && without.value.mlflowModel).toBe(undefined);
    const withDir = parse({ ...base, mlflowModel: dir() });
    expect(withDir.ok && withDir.value.type === 'result' && withDir.value.mlflowModel).toEqual(dir());
    const nested = parse({ ...base, mlflowModel: dir({ files: ['code/helpers.py', 'MLmodel'] }) });
    expect(nested.ok).toBe(true);
  });

  it('refuses an MLflow model that is not an S3 prefix, lists no MLmodel, or names files outside its directory', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ uri: 'file:///tmp/model/' }, /mlflowModel\.uri/],
      [{ uri: 's3://mlo/models/m/mlflow-model' }, /mlflowModel\.uri/],
      [{ files: ['model.onnx'] }, /mlflowModel\.files: lists no MLmodel file/],
      [{ files: [] }, /mlflowModel\.files/],
      [{ files: ['../escape.json', 'MLmodel'] }, /mlflowModel\.files\.0: a relative path of a file/],
      [{ files: ['/etc/passwd', 'MLmodel'] }, /mlflowModel\.files\.0/],
      [{ files: ['a//b', 'MLmodel'] }, /mlflowModel\.files\.0/],
      [{ files: ['./MLmodel', 'MLmodel'] }, /mlflowModel\.files\.0/],
    ];
    for (const [over, message] of cases) {
      const r = parse({ ...base, mlflowModel: dir(over) });
      expect(r.ok, JSON.stringify(over)).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(message);
    }
  });
});
