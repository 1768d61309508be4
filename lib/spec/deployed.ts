/**
 * The model specs as deployed with the workers: the files in `$MLO_MODELS_DIR` (else the
 * project's `models/`) that the worker process reads, at its code version. A run names its
 * model and the hash of the spec it was started with; the workers use their own copy of the
 * spec, and only when its hash is the run's. So nothing in a workflow's input decides a run's
 * reviewers, deadline, gates or trainer: a changed copy fails the run instead of being used.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BadInputError } from '../core/errors';
import { sha256Hex } from '../infra/hash';
import { featureSetFromSpec, type FeatureSet } from '../features/featureset';
import { findSpecFile, MODELS_DIR, parseSpec, specHash, type ModelSpec } from './model-spec';

/** The directory of the deployed specs: `$MLO_MODELS_DIR`, else the project's `models/`. */
export function deployedModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.MLO_MODELS_DIR?.trim();
  return dir ? path.resolve(dir) : MODELS_DIR;
}

/** A model's deployed spec, validated: what a run's stages and gates use. */
export type DeployedSpec = {
  model: string;
  /** The spec file, as the worker names it (relative to its working directory). */
  file: string;
  spec: ModelSpec;
  /** `specHash(spec)`: the hash a run must have been started with. */
  specHash: string;
  /** The spec's features, resolved. */
  featureSet: FeatureSet;
};

/** The workers' copy of a spec is not the one the run was started with. */
export class DeployedSpecMismatchError extends BadInputError {
  constructor(
    readonly file: string,
    readonly runHash: string,
    readonly deployedHash: string,
  ) {
    super(
      `the workers deploy a different ${path.basename(file)} than the run was started with ` +
        `(the run's spec hash is ${runHash}; ${file} on the workers hashes to ${deployedHash}); ` +
        'redeploy the workers or start the run again',
    );
    this.name = 'DeployedSpecMismatchError';
  }
}

function relative(file: string): string {
  return path.relative(process.cwd(), file) || file;
}

/**
 * Reads deployed specs. Each load reads the file again (a few KB) and parses it only when its
 * bytes changed, so a redeployed spec is seen at once and an unchanged one costs a hash.
 */
export class DeployedSpecs {
  private readonly cache = new Map<string, { textHash: string; deployed: DeployedSpec }>();

  constructor(readonly dir: string = deployedModelsDir()) {}

  /**
   * The model's deployed spec, checked against the hash the run was started with. Throws
   * BadInputError (deterministic: never worth a retry) when the model has no spec here, the
   * spec is invalid, or its hash is not `expectedHash`.
   */
  load(model: string, expectedHash: string): DeployedSpec {
    const deployed = this.read(model);
    if (deployed.specHash !== expectedHash)
      throw new DeployedSpecMismatchError(deployed.file, expectedHash, deployed.specHash);
    return deployed;
  }

  /** The model's deployed spec, whatever its hash. */
  read(model: string): DeployedSpec {
    let file: string;
    try {
      file = findSpecFile(model, this.dir);
    } catch (err) {
      throw new BadInputError(
        `the workers deploy no spec of model "${model}": ${(err as Error).message}; ` +
          'deploy the workers with the model spec, or check the model name',
      );
    }
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new BadInputError(`the workers cannot read the model spec ${relative(file)}: ${(err as Error).message}`);
    }
    const textHash = sha256Hex(text);
    const cached = this.cache.get(file);
    if (cached?.textHash === textHash) return cached.deployed;
    const spec = parseSpec(text, relative(file));
    const deployed: DeployedSpec = {
      model: spec.name,
      file: relative(file),
      spec,
      specHash: specHash(spec),
      featureSet: featureSetFromSpec(spec),
    };
    this.cache.set(file, { textHash, deployed });
    return deployed;
  }
}

const byDir = new Map<string, DeployedSpecs>();

/** The shared reader of a directory's deployed specs (one cache per directory and process). */
export function deployedSpecs(dir: string = deployedModelsDir()): DeployedSpecs {
  let specs = byDir.get(dir);
  if (!specs) byDir.set(dir, (specs = new DeployedSpecs(dir)));
  return specs;
}

/**
 * The spec a run was started with, when this machine holds it: the local copy of the model's
 * spec if its hash is `hash`, else undefined (never throws). For display only (e.g. a run's
 * windows in the CLI); the workers decide with `DeployedSpecs.load`.
 */
export function localSpecWithHash(
  model: string,
  hash: string,
  dir: string = deployedModelsDir(),
): ModelSpec | undefined {
  try {
    const d = deployedSpecs(dir).read(model);
    return d.specHash === hash ? d.spec : undefined;
  } catch {
    return undefined;
  }
}
