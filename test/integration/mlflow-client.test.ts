/**
 * The MLflow client against the real dev-stack MLflow (`npm run stack -- up`). Every test
 * uses its own names (a random suffix), so runs can repeat and share the server.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/infra/config';
import {
  aliasesOf,
  isRetryable,
  metricsOf,
  MlflowClient,
  MlflowInvalidInputError,
  MlflowNotFoundError,
  MlflowUnavailableError,
  paramsOf,
  quoteFilterValue,
  tagFilterKey,
  tagsOf,
} from '../../lib/registry/mlflow';

const cfg = loadConfig();
const mlflow = MlflowClient.fromConfig(cfg, { retry: { attempts: 3, baseDelayMs: 200, maxDelayMs: 1000 } });
const suffix = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const unique = (what: string) => `mlo-test-${what}-${suffix}`;
const modelsToDelete: string[] = [];

beforeAll(async () => {
  try {
    const res = await fetch(`${cfg.mlflow.trackingUri}/health`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`/health answered HTTP ${res.status}`);
  } catch (err) {
    throw new Error(
      `MLflow is not reachable at ${cfg.mlflow.trackingUri} (${(err as Error).message}). Run \`npm run stack -- up\` first.`,
      { cause: err },
    );
  }
});

afterAll(async () => {
  for (const name of modelsToDelete) await mlflow.deleteRegisteredModel(name).catch(() => undefined);
});

describe('experiments', () => {
  it('get-or-create gives the same experiment every time, also when racing', async () => {
    const name = unique('exp');
    const first = await mlflow.getOrCreateExperiment(name, { tags: { owner: 'mlo-tests' } });
    const second = await mlflow.getOrCreateExperiment(name);
    expect(second.experimentId).toBe(first.experimentId);
    expect(first.name).toBe(name);
    expect(first.artifactLocation).toMatch(/^mlflow-artifacts:\//);
    expect(tagsOf(first).owner).toBe('mlo-tests');

    const racing = unique('exp-race');
    const ids = await Promise.all(
      Array.from({ length: 6 }, () => mlflow.getOrCreateExperiment(racing).then((e) => e.experimentId)),
    );
    expect(new Set(ids).size).toBe(1);

    expect(await mlflow.getExperimentByName(unique('missing'))).toBeUndefined();
  });
});

describe('runs', () => {
  it('create, log params/metrics/batch, tag, update and search', async () => {
    const exp = await mlflow.getOrCreateExperiment(unique('runs'));
    const parent = await mlflow.createRun({
      experimentId: exp.experimentId,
      runName: 'sweep',
      tags: { 'mlo.model': 'fraud' },
      startTime: Date.now() - 1000,
    });
    expect(parent.info.status).toBe('RUNNING');
    expect(parent.info.artifactUri).toBe(`mlflow-artifacts:/${exp.experimentId}/${parent.info.runId}/artifacts`);
    const child = await mlflow.createRun({
      experimentId: exp.experimentId,
      runName: 'trial-0',
      parentRunId: parent.info.runId,
    });
    expect(tagsOf(child)['mlflow.parentRunId']).toBe(parent.info.runId);

    await mlflow.logParam(child.info.runId, 'learning_rate', 0.05);
    await mlflow.logMetric(child.info.runId, { key: 'auc', value: 0.8, step: 0, timestamp: 1_700_000_000_000 });
    await mlflow.logMetric(child.info.runId, { key: 'auc', value: 0.9, step: 1, timestamp: 1_700_000_001_000 });
    const sent = await mlflow.logBatch(child.info.runId, {
      metrics: Array.from({ length: 1200 }, (_, i) => ({ key: 'loss', value: 1 / (i + 1), step: i })),
      params: Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`p${i}`, i])),
      tags: { 'mlo.stage': 'training', owner: 'tests' },
    });
    expect(sent).toBe(2);
    await mlflow.setRunTag(child.info.runId, 'temp', 'x');
    await mlflow.deleteRunTag(child.info.runId, 'temp');
    await expect(mlflow.deleteRunTag(child.info.runId, 'temp')).rejects.toBeInstanceOf(MlflowNotFoundError);

    // A param's value cannot change once logged.
    await expect(mlflow.logParam(child.info.runId, 'learning_rate', 0.1)).rejects.toBeInstanceOf(
      MlflowInvalidInputError,
    );

    const got = await mlflow.getRun(child.info.runId);
    expect(paramsOf(got).learning_rate).toBe('0.05');
    expect(paramsOf(got).p149).toBe('149');
    expect(Object.keys(paramsOf(got))).toHaveLength(151);
    expect(metricsOf(got).auc).toBe(0.9);
    expect(metricsOf(got).loss).toBeCloseTo(1 / 1200);
    expect(tagsOf(got)['mlo.stage']).toBe('training');
    expect(tagsOf(got).temp).toBeUndefined();

    const ended = await mlflow.endRun(child.info.runId, 'FINISHED');
    expect(ended.status).toBe('FINISHED');
    expect(ended.endTime).toBeGreaterThan(0);
    const failed = await mlflow.updateRun(parent.info.runId, { status: 'FAILED', endTime: Date.now() });
    expect(failed.status).toBe('FAILED');

    const children = await mlflow.searchRuns({
      experimentIds: [exp.experimentId],
      filter: `${tagFilterKey('mlflow.parentRunId')} = ${quoteFilterValue(parent.info.runId)} and params.learning_rate = '0.05'`,
    });
    expect(children.items.map((r) => r.info.runId)).toEqual([child.info.runId]);

    const page1 = await mlflow.searchRuns({
      experimentIds: [exp.experimentId],
      orderBy: ['attributes.start_time ASC'],
      maxResults: 1,
    });
    expect(page1.items.map((r) => r.info.runId)).toEqual([parent.info.runId]);
    expect(page1.nextPageToken).toBeTruthy();
    const page2 = await mlflow.searchRuns({
      experimentIds: [exp.experimentId],
      orderBy: ['attributes.start_time ASC'],
      maxResults: 1,
      pageToken: page1.nextPageToken,
    });
    expect(page2.items.map((r) => r.info.runId)).toEqual([child.info.runId]);
    const all = await mlflow.searchAllRuns({ experimentIds: [exp.experimentId], pageSize: 1 });
    expect(all).toHaveLength(2);

    await expect(mlflow.getRun('0123456789abcdef0123456789abcdef')).rejects.toBeInstanceOf(MlflowNotFoundError);
  });
});

describe('artifacts through the proxy', () => {
  it('uploads and downloads bytes and files unchanged, and lists them', async () => {
    const exp = await mlflow.getOrCreateExperiment(unique('artifacts'));
    const run = await mlflow.createRun({ experimentId: exp.experimentId, runName: 'artifacts' });
    const uri = run.info.artifactUri;

    const bytes = new Uint8Array(randomBytes(300_000));
    await mlflow.uploadArtifact(uri, 'model/model.onnx', bytes);
    await mlflow.uploadArtifact(uri, 'model/meta data.json', JSON.stringify({ ok: true }));
    const back = await mlflow.downloadArtifact(uri, 'model/model.onnx');
    expect(back.byteLength).toBe(bytes.byteLength);
    expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
    expect(new TextDecoder().decode(await mlflow.downloadArtifact(uri, 'model/meta data.json'))).toBe('{"ok":true}');

    const dir = await mkdtemp(path.join(os.tmpdir(), 'mlo-mlflow-'));
    try {
      const src = path.join(dir, 'features.parquet');
      const fileBytes = randomBytes(2_000_000);
      await writeFile(src, fileBytes);
      await mlflow.uploadArtifactFile(uri, 'data/features.parquet', src);
      const dest = path.join(dir, 'copy.parquet');
      await mlflow.downloadArtifactToFile(uri, 'data/features.parquet', dest);
      expect((await readFile(dest)).equals(fileBytes)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    const root = await mlflow.listArtifacts(uri);
    expect(root.map((f) => [f.path, f.isDir]).sort()).toEqual([
      ['data', true],
      ['model', true],
    ]);
    const model = await mlflow.listArtifacts(uri, 'model');
    expect(model.map((f) => f.path).sort()).toEqual(['model/meta data.json', 'model/model.onnx']);
    expect(model.find((f) => f.path === 'model/model.onnx')?.fileSize).toBe(bytes.byteLength);
    expect(await mlflow.listArtifacts(uri, 'nothing-here')).toEqual([]);

    const started = Date.now();
    await expect(mlflow.downloadArtifact(uri, 'model/missing.onnx')).rejects.toBeInstanceOf(MlflowNotFoundError);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('model registry', () => {
  it('registers versions, tags them, finds them by tag and moves aliases', async () => {
    const name = unique('model');
    modelsToDelete.push(name);
    const exp = await mlflow.getOrCreateExperiment(unique('registry'));
    const run = await mlflow.createRun({ experimentId: exp.experimentId, runName: 'train' });
    await mlflow.uploadArtifact(run.info.artifactUri, 'model/model.onnx', new Uint8Array([1, 2, 3]));

    const created = await mlflow.createRegisteredModel(name, { description: 'fraud', tags: { owner: 'risk' } });
    const again = await mlflow.createRegisteredModel(name);
    expect(again.name).toBe(name);
    expect(again.creationTimestamp).toBe(created.creationTimestamp);
    expect(tagsOf(again).owner).toBe('risk');
    await mlflow.setRegisteredModelTag(name, 'tier', 'gold');
    await mlflow.deleteRegisteredModelTag(name, 'owner');
    await mlflow.deleteRegisteredModelTag(name, 'owner'); // idempotent
    expect(tagsOf(await mlflow.getRegisteredModel(name))).toEqual({ tier: 'gold' });
    const found = await mlflow.searchRegisteredModels({ filter: `name = ${quoteFilterValue(name)}` });
    expect(found.items.map((m) => m.name)).toEqual([name]);

    const source = `${run.info.artifactUri}/model`;
    const v1 = await mlflow.createModelVersion({
      name,
      source,
      runId: run.info.runId,
      tags: { 'mlo.snapshot': 'snap-a' },
      description: 'first',
    });
    const v2 = await mlflow.createModelVersion({
      name,
      source,
      runId: run.info.runId,
      tags: { 'mlo.snapshot': 'snap-b' },
    });
    expect([v1.version, v2.version]).toEqual(['1', '2']);
    const ready = await mlflow.waitForModelVersionReady(name, v1.version, {
      pollIntervalMs: 100,
      waitTimeoutMs: 30_000,
    });
    expect(ready.status).toBe('READY');
    expect(ready.source).toBe(source);
    expect(ready.runId).toBe(run.info.runId);
    expect(ready.description).toBe('first');

    await mlflow.setModelVersionTag(name, v2.version, 'mlo.evaluated', 'true');
    await mlflow.setModelVersionTag(name, v2.version, 'scratch', 'x');
    await mlflow.deleteModelVersionTag(name, v2.version, 'scratch');
    const updated = await mlflow.updateModelVersionDescription(name, v2.version, 'second');
    expect(updated.description).toBe('second');
    expect(tagsOf(await mlflow.getModelVersion(name, 2))).toEqual({
      'mlo.snapshot': 'snap-b',
      'mlo.evaluated': 'true',
    });

    const bySnapshot = await mlflow.searchModelVersions({
      filter: `name = ${quoteFilterValue(name)} and ${tagFilterKey('mlo.snapshot')} = 'snap-b'`,
    });
    expect(bySnapshot.items.map((v) => v.version)).toEqual(['2']);
    const byRun = await mlflow.searchAllModelVersions({
      filter: `run_id = ${quoteFilterValue(run.info.runId)}`,
      orderBy: ['version_number ASC'],
      pageSize: 1,
    });
    expect(byRun.map((v) => v.version)).toEqual(['1', '2']);

    expect(await mlflow.getModelVersionByAlias(name, 'champion')).toBeUndefined();
    await mlflow.setAlias(name, 'champion', v1.version);
    await mlflow.setAlias(name, 'challenger', 2);
    const champion = await mlflow.getModelVersionByAlias(name, 'champion');
    expect(champion?.version).toBe('1');
    expect(champion?.aliases).toEqual(['champion']);
    expect(aliasesOf(await mlflow.getRegisteredModel(name))).toEqual({ champion: '1', challenger: '2' });

    await mlflow.setAlias(name, 'champion', v2.version);
    expect((await mlflow.getModelVersionByAlias(name, 'champion'))?.version).toBe('2');
    expect((await mlflow.getModelVersion(name, 2)).aliases.sort()).toEqual(['challenger', 'champion']);

    await mlflow.deleteAlias(name, 'champion');
    await mlflow.deleteAlias(name, 'champion'); // idempotent
    expect(await mlflow.getModelVersionByAlias(name, 'champion')).toBeUndefined();
    await expect(mlflow.setAlias(name, 'champion', 99)).rejects.toBeInstanceOf(MlflowNotFoundError);
    await expect(mlflow.getModelVersionByAlias(unique('no-such-model'), 'champion')).rejects.toBeInstanceOf(
      MlflowNotFoundError,
    );
    await expect(mlflow.getModelVersion(name, 99)).rejects.toBeInstanceOf(MlflowNotFoundError);
  });
});

describe('outage', () => {
  it('a server that does not answer is an MlflowUnavailableError after the retries', async () => {
    // A port that was just free: nothing listens there, so connecting is refused. (Port 1 would
    // not do: fetch refuses "bad ports" itself, before any connection.)
    const port = await closedPort();
    const down = new MlflowClient({
      trackingUri: `http://127.0.0.1:${port}`,
      retry: { attempts: 3, baseDelayMs: 20, maxDelayMs: 50 },
    });
    const err = await down.getOrCreateExperiment(unique('down')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlflowUnavailableError);
    const u = err as MlflowUnavailableError;
    expect(u.attempts).toBe(3);
    expect(u.message).toContain('ECONNREFUSED');
    expect(u.message).toContain('npm run stack -- up');
    expect(isRetryable(u)).toBe(true);
    expect(u.cause).toBeInstanceOf(TypeError);
  });
});

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve, reject) => srv.close((err) => (err ? reject(err) : resolve())));
  return port;
}
