/**
 * The MLflow client against the real dev-stack MLflow (`npm run stack -- up`). Every test
 * uses its own names (a random suffix), so runs can repeat and share the server.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/infra/config';
import {
  isRetryable,
  metricsOf,
  MlflowClient,
  MlflowInvalidInputError,
  MlflowNotFoundError,
  MlflowUnavailableError,
  quoteFilterValue,
  tagFilterKey,
  tagsOf,
  type Run,
} from '../../lib/registry/mlflow';
import { RunTag, VersionTag } from '../../lib/registry/tags';

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
    const why = `MLflow is not reachable at ${cfg.mlflow.trackingUri} (${(err as Error).message}).`;
    throw new Error(`${why} Run \`npm run stack -- up\` first.`, { cause: err });
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
  });
});

/** A run's params as a map. */
const paramsOf = (run: Run) => Object.fromEntries(run.data.params.map((p) => [p.key, p.value]));

/** A new experiment with a sweep's parent run and one child run under it. */
async function sweepWithChild(what: string) {
  const exp = await mlflow.getOrCreateExperiment(unique(what));
  const parent = await mlflow.createRun({
    experimentId: exp.experimentId,
    runName: 'sweep',
    tags: { [RunTag.workflowId]: 'train-fraud' },
    startTime: Date.now() - 1000,
  });
  const child = await mlflow.createRun({
    experimentId: exp.experimentId,
    runName: 'trial-0',
    parentRunId: parent.info.runId,
  });
  return { exp, parent, child };
}

describe('runs', () => {
  it('creates runs, a child nested under its parent', async () => {
    const { exp, parent, child } = await sweepWithChild('runs-create');
    expect(parent.info.status).toBe('RUNNING');
    expect(parent.info.artifactUri).toBe(`mlflow-artifacts:/${exp.experimentId}/${parent.info.runId}/artifacts`);
    expect(tagsOf(parent)[RunTag.workflowId]).toBe('train-fraud');
    expect(tagsOf(child)['mlflow.parentRunId']).toBe(parent.info.runId);
    // With authentication MLflow answers 403 for a run that does not exist (it reveals no run ids).
    await expect(mlflow.getRun('0123456789abcdef0123456789abcdef')).rejects.toMatchObject({
      status: 403,
      message: expect.stringContaining('also answers 403 for a run or model that does not exist') as unknown,
    });
  });

  it('logs a batch over several requests, sets a tag, and refuses a changed param', async () => {
    const { child } = await sweepWithChild('runs-log');
    const sent = await mlflow.logBatch(child.info.runId, {
      metrics: [
        { key: 'auc', value: 0.8, step: 0, timestamp: 1_700_000_000_000 },
        { key: 'auc', value: 0.9, step: 1, timestamp: 1_700_000_001_000 },
        ...Array.from({ length: 1200 }, (_, i) => ({ key: 'loss', value: 1 / (i + 1), step: i })),
      ],
      params: { learning_rate: 0.05, ...Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`p${i}`, i])) },
      tags: { [RunTag.trialKey]: 'trial-0', owner: 'tests' },
    });
    expect(sent).toBe(2);
    await mlflow.setRunTag(child.info.runId, RunTag.resumedFrom, 'step 3');

    // A param's value cannot change once logged.
    await expect(mlflow.logBatch(child.info.runId, { params: { learning_rate: 0.1 } })).rejects.toBeInstanceOf(
      MlflowInvalidInputError,
    );

    const got = await mlflow.getRun(child.info.runId);
    expect(paramsOf(got).learning_rate).toBe('0.05');
    expect(paramsOf(got).p149).toBe('149');
    expect(Object.keys(paramsOf(got))).toHaveLength(151);
    expect(metricsOf(got).auc).toBe(0.9);
    expect(metricsOf(got).loss).toBeCloseTo(1 / 1200);
    expect(tagsOf(got)[RunTag.trialKey]).toBe('trial-0');
    expect(tagsOf(got)[RunTag.resumedFrom]).toBe('step 3');
  });

  it('ends runs and searches them by filter and page by page', async () => {
    const { exp, parent, child } = await sweepWithChild('runs-search');
    await mlflow.logBatch(child.info.runId, { params: { learning_rate: 0.05 } });
    const ended = await mlflow.endRun(child.info.runId, 'FINISHED');
    expect(ended.status).toBe('FINISHED');
    expect(ended.endTime).toBeGreaterThan(0);
    const failed = await mlflow.endRun(parent.info.runId, 'FAILED');
    expect(failed.status).toBe('FAILED');

    const isChild = `${tagFilterKey('mlflow.parentRunId')} = ${quoteFilterValue(parent.info.runId)}`;
    const children = await mlflow.searchRuns({
      experimentIds: [exp.experimentId],
      filter: `${isChild} and params.learning_rate = '0.05'`,
    });
    expect(children.items.map((r) => r.info.runId)).toEqual([child.info.runId]);

    const query = { experimentIds: [exp.experimentId], orderBy: ['attributes.start_time ASC'], maxResults: 1 };
    const page1 = await mlflow.searchRuns(query);
    expect(page1.items.map((r) => r.info.runId)).toEqual([parent.info.runId]);
    expect(page1.nextPageToken).toBeTruthy();
    const page2 = await mlflow.searchRuns({ ...query, pageToken: page1.nextPageToken });
    expect(page2.items.map((r) => r.info.runId)).toEqual([child.info.runId]);
    const all = await mlflow.searchAllRuns({ experimentIds: [exp.experimentId], pageSize: 1 });
    expect(all).toHaveLength(2);
  });
});

describe('artifacts through the proxy', () => {
  it('uploads and downloads bytes unchanged, and lists them', async () => {
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

    const report = new Uint8Array(randomBytes(2_000_000));
    await mlflow.uploadArtifact(uri, 'evaluation/report.json', report);
    expect(Buffer.from(await mlflow.downloadArtifact(uri, 'evaluation/report.json')).equals(report)).toBe(true);

    const root = await mlflow.listArtifacts(uri);
    expect(root.map((f) => [f.path, f.isDir]).sort()).toEqual([
      ['evaluation', true],
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

/** A new registered model with two versions (the first described), both from one run. */
async function modelWithTwoVersions(what: string) {
  const name = unique(what);
  modelsToDelete.push(name);
  const exp = await mlflow.getOrCreateExperiment(unique(`${what}-exp`));
  const run = await mlflow.createRun({ experimentId: exp.experimentId, runName: 'train' });
  await mlflow.uploadArtifact(run.info.artifactUri, 'model/model.onnx', new Uint8Array([1, 2, 3]));
  await mlflow.createRegisteredModel(name);
  const source = `${run.info.artifactUri}/model`;
  const v1 = await mlflow.createModelVersion({
    name,
    source,
    runId: run.info.runId,
    tags: { [VersionTag.featureSnapshotHash]: 'snap-a' },
    description: 'first',
  });
  const v2 = await mlflow.createModelVersion({
    name,
    source,
    runId: run.info.runId,
    tags: { [VersionTag.featureSnapshotHash]: 'snap-b' },
  });
  return { name, run, source, v1, v2 };
}

describe('model registry', () => {
  it('creates a registered model once and tags it', async () => {
    const name = unique('model-create');
    modelsToDelete.push(name);
    const created = await mlflow.createRegisteredModel(name, { description: 'fraud', tags: { owner: 'risk' } });
    const again = await mlflow.createRegisteredModel(name, { description: 'ignored', tags: { owner: 'ignored' } });
    expect(again.name).toBe(name);
    expect(again.creationTimestamp).toBe(created.creationTimestamp);
    expect(again.description).toBe('fraud');
    expect(tagsOf(again).owner).toBe('risk');
    await mlflow.setRegisteredModelTag(name, 'tier', 'gold');
    expect(tagsOf(await mlflow.createRegisteredModel(name))).toEqual({ owner: 'risk', tier: 'gold' });
  });

  it('registers versions, waits for them, tags them and finds them by tag', async () => {
    const { name, run, source, v1, v2 } = await modelWithTwoVersions('model-versions');
    expect([v1.version, v2.version]).toEqual(['1', '2']);
    const ready = await mlflow.waitForModelVersionReady(name, v1.version, {
      pollIntervalMs: 100,
      waitTimeoutMs: 30_000,
    });
    expect(ready).toMatchObject({ status: 'READY', source, runId: run.info.runId, description: 'first' });

    await mlflow.setModelVersionTag(name, v2.version, VersionTag.awaitingApprovalIn, 'promote-x');
    expect(tagsOf(await mlflow.getModelVersion(name, 2))).toEqual({
      [VersionTag.featureSnapshotHash]: 'snap-b',
      [VersionTag.awaitingApprovalIn]: 'promote-x',
    });
    await expect(mlflow.getModelVersion(name, 99)).rejects.toBeInstanceOf(MlflowNotFoundError);

    const bySnapshot = await mlflow.searchModelVersions({
      filter: `name = ${quoteFilterValue(name)} and ${tagFilterKey(VersionTag.featureSnapshotHash)} = 'snap-b'`,
    });
    expect(bySnapshot.items.map((v) => v.version)).toEqual(['2']);
    const query = { filter: `run_id = ${quoteFilterValue(run.info.runId)}`, orderBy: ['version_number ASC'] };
    const page1 = await mlflow.searchModelVersions({ ...query, maxResults: 1 });
    const page2 = await mlflow.searchModelVersions({ ...query, maxResults: 1, pageToken: page1.nextPageToken });
    expect([...page1.items, ...page2.items].map((v) => v.version)).toEqual(['1', '2']);
  });

  it('sets, moves and deletes aliases', async () => {
    const { name, v1, v2 } = await modelWithTwoVersions('model-aliases');
    expect(await mlflow.getModelVersionByAlias(name, 'champion')).toBeUndefined();
    await mlflow.setAlias(name, 'champion', v1.version);
    await mlflow.setAlias(name, 'challenger', 2);
    const champion = await mlflow.getModelVersionByAlias(name, 'champion');
    expect(champion?.version).toBe('1');
    expect(champion?.aliases).toEqual(['champion']);
    const aliases = (await mlflow.createRegisteredModel(name)).aliases;
    expect(aliases.sort((a, b) => a.alias.localeCompare(b.alias))).toEqual([
      { alias: 'challenger', version: '2' },
      { alias: 'champion', version: '1' },
    ]);

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
