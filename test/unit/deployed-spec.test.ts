import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BadInputError } from '../../lib/core/errors';
import {
  DeployedSpecMismatchError,
  DeployedSpecs,
  deployedModelsDir,
  localSpecWithHash,
} from '../../lib/spec/deployed';
import { featureSetFromSpec } from '../../lib/features/featureset';
import { findModelSpec, MODELS_DIR, specHash } from '../../lib/spec/model-spec';
import { deployedSpecsDir, deploySpec, specText } from '../helpers/deployed-spec';

let dir: string;
beforeEach(() => {
  dir = deployedSpecsDir();
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('the deployed model specs', () => {
  it('are read from $MLO_MODELS_DIR, else the project models/', () => {
    expect(deployedModelsDir({})).toBe(MODELS_DIR);
    expect(deployedModelsDir({ MLO_MODELS_DIR: '  ' })).toBe(MODELS_DIR);
    expect(deployedModelsDir({ MLO_MODELS_DIR: 'some/dir' })).toBe(path.resolve('some/dir'));
  });

  it('give the validated spec, its hash (specHash of the spec) and its features when the hash is the run’s', () => {
    const { spec } = findModelSpec('fraud-detector');
    const d = new DeployedSpecs(MODELS_DIR).load('fraud-detector', specHash(spec));
    expect(d).toEqual({
      model: 'fraud-detector',
      file: path.relative(process.cwd(), path.join(MODELS_DIR, 'fraud-detector.yaml')),
      spec,
      specHash: specHash(spec),
      featureSet: featureSetFromSpec(spec),
    });
  });

  it('refuse another hash, naming both hashes, the file and the fix', () => {
    const { specHash: deployed, file } = deploySpec(dir, 'm1');
    const err = thrown(() => new DeployedSpecs(dir).load('m1', '0123456789abcdef'));
    expect(err).toBeInstanceOf(DeployedSpecMismatchError);
    expect(err).toBeInstanceOf(BadInputError);
    expect(err.message).toBe(
      "the workers deploy a different m1.yaml than the run was started with (the run's spec hash is 0123456789abcdef; " +
        `${path.relative(process.cwd(), file)} on the workers hashes to ${deployed}); ` +
        'redeploy the workers or start the run again',
    );
  });

  it('refuse a model they do not deploy, listing the ones they do, and never read outside their directory', () => {
    deploySpec(dir, 'm1');
    const specs = new DeployedSpecs(dir);
    expect(thrown(() => specs.load('m2', 'x')).message).toMatch(
      /^the workers deploy no spec of model "m2": no model spec named "m2" in .*; known models: m1; deploy the workers/,
    );
    expect(thrown(() => specs.load('../models/fraud-detector', 'x'))).toBeInstanceOf(BadInputError);
  });

  it('refuse an invalid deployed spec with its problems', () => {
    fs.writeFileSync(path.join(dir, 'm1.yaml'), specText('m1').replace(/reviewers: \[.*\]/, 'reviewers: []'));
    const err = thrown(() => new DeployedSpecs(dir).load('m1', 'x'));
    expect(err).toBeInstanceOf(BadInputError);
    expect(err.message).toMatch(
      /m1\.yaml is not a valid model spec:\n.*promotion\.reviewers: needs at least one reviewer/,
    );
  });

  it('see a redeployed spec at once, and parse an unchanged one only once', () => {
    const first = deploySpec(dir, 'm1', { reviewers: ['a@example.com'] });
    const specs = new DeployedSpecs(dir);
    const a = specs.load('m1', first.specHash);
    expect(specs.load('m1', first.specHash)).toBe(a);
    const second = deploySpec(dir, 'm1', { reviewers: ['b@example.com'] });
    expect(second.specHash).not.toBe(first.specHash);
    expect(thrown(() => specs.load('m1', first.specHash))).toBeInstanceOf(DeployedSpecMismatchError);
    expect(specs.load('m1', second.specHash).spec.promotion.reviewers).toEqual(['b@example.com']);
  });

  it('give the CLI the local spec only when its hash is the run’s', () => {
    const { spec, specHash: hash } = deploySpec(dir, 'm1');
    expect(localSpecWithHash('m1', hash, dir)).toEqual(spec);
    expect(localSpecWithHash('m1', 'other', dir)).toBeUndefined();
    expect(localSpecWithHash('nope', hash, dir)).toBeUndefined();
  });
});
