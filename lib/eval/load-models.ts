/**
 * Finding and loading the two models an evaluation compares: the candidate (its ONNX in S3, its
 * registry tags) and the champion (`models:/<name>@champion`: its `mlo.onnx_uri` tag, else its
 * run's `model/model.onnx` artifact). No champion — a first version, or the alias pointing at
 * the candidate itself — means absolute gates alone.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { BadInputError } from '../core/errors';
import { isNotFound as isMlflowNotFound, tagsOf, type MlflowClient, type ModelVersion } from '../registry/mlflow';
import { getObjectBytes, isNotFound, parseS3Uri } from '../infra/s3';
import { ModelAlias, VersionTag } from '../registry/tags';
import { ScoringModel } from './onnx-model';

export type Clients = { s3: S3Client; mlflow: MlflowClient };

export type LoadedModels = {
  candidate: ScoringModel;
  candidateVersion: ModelVersion;
  champion: ScoringModel | null;
  championVersion: ModelVersion | null;
  championUri: string | null;
  /** Why there is no champion, when there is none. */
  championNote: string | null;
};

async function s3Bytes(s3: S3Client, uri: string, what: string, signal?: AbortSignal): Promise<Uint8Array> {
  let loc;
  try {
    loc = parseS3Uri(uri);
  } catch (err) {
    throw new BadInputError(`${what}: ${(err as Error).message}`);
  }
  try {
    return await getObjectBytes(s3, loc.bucket, loc.key, signal);
  } catch (err) {
    if (isNotFound(err)) throw new BadInputError(`${what}: ${uri} does not exist`);
    throw err;
  }
}

/** The champion's version and ONNX bytes, or why there is none. */
async function findChampion(
  c: Clients,
  model: string,
  candidateVersion: string,
  signal?: AbortSignal,
): Promise<{ version: ModelVersion; bytes: Uint8Array; uri: string } | { version: null; note: string }> {
  let mv: ModelVersion | undefined;
  try {
    mv = await c.mlflow.getModelVersionByAlias(model, ModelAlias.champion, { signal });
  } catch (err) {
    if (isMlflowNotFound(err)) return { version: null, note: `the registered model ${model} does not exist yet` };
    throw err;
  }
  if (!mv)
    return { version: null, note: `no version of ${model} has the alias @${ModelAlias.champion} yet (first version)` };
  if (mv.version === candidateVersion)
    return { version: null, note: `@${ModelAlias.champion} already points at the candidate v${candidateVersion}` };
  const tags = tagsOf(mv);
  const what = `the champion ${model} v${mv.version}`;
  const tagged = tags[VersionTag.onnxUri];
  if (tagged) return { version: mv, bytes: await s3Bytes(c.s3, tagged, what, signal), uri: tagged };
  // No tag: the ONNX file logged as the run's artifact model/model.onnx.
  if (!mv.runId)
    throw new BadInputError(
      `${what} has neither an ${VersionTag.onnxUri} tag nor a run, so mlo cannot find its ONNX model`,
    );
  const run = await c.mlflow.getRun(mv.runId, { signal });
  try {
    const bytes = await c.mlflow.downloadArtifact(run.info.artifactUri, 'model/model.onnx', { signal });
    return { version: mv, bytes, uri: `${run.info.artifactUri}/model/model.onnx` };
  } catch (err) {
    if (isMlflowNotFound(err))
      throw new BadInputError(
        `${what} has no ${VersionTag.onnxUri} tag and its run ${mv.runId} has no artifact model/model.onnx`,
      );
    throw err;
  }
}

export async function loadModels(
  c: Clients,
  model: string,
  candidate: { version: string; onnxUri: string },
  features: string[],
  signal?: AbortSignal,
): Promise<LoadedModels> {
  let cv: ModelVersion;
  try {
    cv = await c.mlflow.getModelVersion(model, candidate.version, { signal });
  } catch (err) {
    if (isMlflowNotFound(err))
      throw new BadInputError(`the candidate ${model} v${candidate.version} is not in the MLflow registry`);
    throw err;
  }
  const ctags = tagsOf(cv);
  const cbytes = await s3Bytes(c.s3, candidate.onnxUri, `the candidate ${model} v${candidate.version}`, signal);
  const champ = await findChampion(c, model, candidate.version, signal);
  const cand = await ScoringModel.load(cbytes, {
    role: 'candidate',
    version: candidate.version,
    uri: candidate.onnxUri,
    features,
    inputColumnsTag: ctags[VersionTag.inputColumns],
    probabilityTag: ctags[VersionTag.probabilityOutput],
  });
  if (champ.version === null)
    return {
      candidate: cand,
      candidateVersion: cv,
      champion: null,
      championVersion: null,
      championUri: null,
      championNote: champ.note,
    };
  try {
    const htags = tagsOf(champ.version);
    const h = await ScoringModel.load(champ.bytes, {
      role: 'champion',
      version: champ.version.version,
      uri: champ.uri,
      features,
      inputColumnsTag: htags[VersionTag.inputColumns],
      probabilityTag: htags[VersionTag.probabilityOutput],
    });
    return {
      candidate: cand,
      candidateVersion: cv,
      champion: h,
      championVersion: champ.version,
      championUri: champ.uri,
      championNote: null,
    };
  } catch (err) {
    await cand.release().catch(() => undefined);
    throw err;
  }
}

export async function releaseModels(m: LoadedModels): Promise<void> {
  await m.candidate.release().catch(() => undefined);
  await m.champion?.release().catch(() => undefined);
}
