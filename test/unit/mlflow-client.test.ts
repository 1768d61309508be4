/**
 * The MLflow client's retry, abort and error mapping, with the network simulated at the
 * boundary: an injected function typed as the real global `fetch`.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  isRetryable,
  LOG_BATCH_LIMITS,
  MlflowAlreadyExistsError,
  MlflowClient,
  type MlflowClientOptions,
  MlflowError,
  MlflowInvalidInputError,
  MlflowNotFoundError,
  MlflowUnavailableError,
  quoteFilterValue,
  tagFilterKey,
} from '../../lib/registry/mlflow';
import { invalidInput } from '../../lib/registry/mlflow/errors';
import { artifactProxyPath, chunkBatch } from '../../lib/registry/mlflow/wire';
import { EXIT_CODES } from '../../lib/core/errors';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ACTIVITY_MLFLOW_RETRY, activityCancellation, buildDeps } from '../../activities/build-deps';
import { loadConfig } from '../../lib/infra/config';

const BASE = 'http://mlflow.test:5050';

type Req = { method: string; url: URL; body: unknown; init: RequestInit | undefined };
type Handler = (req: Req, call: number) => Response | Promise<Response>;

/** A fetch typed as the real one; `handler` sees each request (JSON bodies parsed). */
function fakeFetch(handler: Handler) {
  let call = 0;
  const requests: Req[] = [];
  const fn = vi.fn<typeof fetch>((input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const raw = init?.body;
    const body: unknown = typeof raw === 'string' ? JSON.parse(raw) : raw;
    const req: Req = { method: init?.method ?? 'GET', url, body, init };
    requests.push(req);
    call += 1;
    return Promise.resolve(handler(req, call));
  });
  return { fn, requests };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

function mlflowError(status: number, errorCode: string, message: string): Response {
  return json(status, { error_code: errorCode, message });
}

/** What undici's fetch throws when nothing listens on the port. */
function connectionRefused(): TypeError {
  const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5050'), {
    code: 'ECONNREFUSED',
    errno: -111,
    syscall: 'connect',
  });
  return new TypeError('fetch failed', { cause });
}

/** Never answers; rejects with the signal's reason when it aborts (as the real fetch does). */
function hang(init: RequestInit | undefined): Promise<Response> {
  return new Promise<Response>((_resolve, reject) => {
    const s = init?.signal;
    if (!s) return;
    s.addEventListener('abort', () => reject(s.reason as Error), { once: true });
  });
}

function client(fetchFn: typeof fetch, extra: Partial<MlflowClientOptions> = {}): MlflowClient {
  return new MlflowClient({
    trackingUri: BASE,
    fetch: fetchFn,
    retry: { attempts: 5, baseDelayMs: 1, maxDelayMs: 5 },
    ...extra,
  });
}

const RUN = {
  run: {
    info: {
      run_id: 'r1',
      run_uuid: 'r1',
      experiment_id: '7',
      run_name: 'train',
      status: 'RUNNING',
      start_time: 1700000000000,
      artifact_uri: 'mlflow-artifacts:/7/r1/artifacts',
      lifecycle_stage: 'active',
    },
    data: {
      metrics: [
        { key: 'auc', value: 0.91, timestamp: 1, step: 3 },
        { key: 'loss', value: 'NaN', timestamp: 1, step: 0 },
      ],
      params: [{ key: 'lr', value: '0.05' }],
      tags: [{ key: 'mlflow.runName', value: 'train' }],
    },
  },
};

describe('MlflowClient retries', () => {
  it('retries 5xx answers and returns the later success', async () => {
    const { fn } = fakeFetch((_req, call) => {
      if (call === 1) return mlflowError(503, 'TEMPORARILY_UNAVAILABLE', 'busy');
      if (call === 2) return new Response('<html><body>Internal Server Error</body></html>', { status: 500 });
      return json(200, RUN);
    });
    const retries: number[] = [];
    const run = await client(fn, { onRetry: (e) => retries.push(e.attempt) }).getRun('r1');
    expect(fn).toHaveBeenCalledTimes(3);
    expect(retries).toEqual([1, 2]);
    expect(run.info.runId).toBe('r1');
    expect(run.info.artifactUri).toBe('mlflow-artifacts:/7/r1/artifacts');
    expect(run.data.params).toEqual([{ key: 'lr', value: '0.05' }]);
    expect(run.data.metrics[1]?.value).toBeNaN();
  });

  it('retries 429 and honours a Retry-After of 0', async () => {
    const { fn } = fakeFetch((_req, call) =>
      call === 1
        ? json(429, { error_code: 'REQUEST_LIMIT_EXCEEDED', message: 'slow down' }, { 'retry-after': '0' })
        : json(200, RUN),
    );
    const delays: number[] = [];
    await client(fn, { onRetry: (e) => delays.push(e.delayMs) }).getRun('r1');
    expect(fn).toHaveBeenCalledTimes(2);
    expect(delays.length).toBe(1);
    expect(delays[0]).toBeLessThanOrEqual(5);
  });

  it('retries connection refused until the server is back', async () => {
    const { fn } = fakeFetch((_req, call) => {
      if (call <= 3) throw connectionRefused();
      return json(200, RUN);
    });
    const run = await client(fn).getRun('r1');
    expect(run.info.runId).toBe('r1');
    expect(fn).toHaveBeenCalledTimes(4);
  });

  it('times out a hanging attempt and retries it', async () => {
    const { fn } = fakeFetch((req, call) => (call === 1 ? hang(req.init) : json(200, RUN)));
    const run = await client(fn, { requestTimeoutMs: 50 }).getRun('r1');
    expect(run.info.runId).toBe('r1');
    expect(fn).toHaveBeenCalledTimes(2);
  });
});

describe('MlflowClient giving up', () => {
  it('gives up with MlflowUnavailableError after the configured attempts', async () => {
    const { fn } = fakeFetch(() => {
      throw connectionRefused();
    });
    const err = await client(fn)
      .getRun('r1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlflowUnavailableError);
    const u = err as MlflowUnavailableError;
    expect(fn).toHaveBeenCalledTimes(5);
    expect(u.attempts).toBe(5);
    expect(u.kind).toBe('unavailable');
    expect(u.status).toBeUndefined();
    expect(u.method).toBe('GET');
    expect(u.endpoint).toBe('/api/2.0/mlflow/runs/get');
    expect(u.exitCode).toBe(EXIT_CODES.unreachable);
    expect(u.message).toContain('ECONNREFUSED');
    expect(u.message).toContain('npm run stack -- up');
    expect(isRetryable(u)).toBe(true);
  });

  it('gives up on a persistent 5xx with its status and error code', async () => {
    const { fn } = fakeFetch(() => mlflowError(503, 'TEMPORARILY_UNAVAILABLE', 'database is locked'));
    const err = await client(fn)
      .getRun('r1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlflowUnavailableError);
    expect((err as MlflowUnavailableError).status).toBe(503);
    expect((err as MlflowUnavailableError).errorCode).toBe('TEMPORARILY_UNAVAILABLE');
    expect((err as MlflowUnavailableError).serverMessage).toBe('database is locked');
    expect(fn).toHaveBeenCalledTimes(5);
  });

  it('uses the defaults that ride out about a minute of downtime', () => {
    const c = new MlflowClient({ trackingUri: BASE });
    let worst = 0;
    for (let a = 1; a < c.retry.attempts; a++)
      worst += Math.min(c.retry.maxDelayMs, c.retry.baseDelayMs * 2 ** (a - 1));
    expect(worst / 2).toBeGreaterThanOrEqual(30_000);
    expect(worst).toBeLessThanOrEqual(90_000);
  });
});

describe('MlflowClient error mapping', () => {
  it('maps 404 RESOURCE_DOES_NOT_EXIST to MlflowNotFoundError and does not retry', async () => {
    const { fn } = fakeFetch(() => mlflowError(404, 'RESOURCE_DOES_NOT_EXIST', 'Run with id=r1 not found'));
    const err = await client(fn)
      .getRun('r1')
      .catch((e: unknown) => e);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(err).toBeInstanceOf(MlflowNotFoundError);
    expect(err).toBeInstanceOf(MlflowError);
    const e = err as MlflowNotFoundError;
    expect(e.kind).toBe('not_found');
    expect(e.status).toBe(404);
    expect(e.errorCode).toBe('RESOURCE_DOES_NOT_EXIST');
    expect(e.endpoint).toBe('/api/2.0/mlflow/runs/get');
    expect(e.serverMessage).toBe('Run with id=r1 not found');
    expect(e.message).toContain('Run with id=r1 not found');
    expect(isRetryable(e)).toBe(false);
  });

  it('maps 400 RESOURCE_ALREADY_EXISTS and INVALID_PARAMETER_VALUE without retrying', async () => {
    const exists = fakeFetch(() => mlflowError(400, 'RESOURCE_ALREADY_EXISTS', 'Experiment(name=x) already exists.'));
    await expect(client(exists.fn).createModelVersion({ name: 'x', source: 's' })).rejects.toBeInstanceOf(
      MlflowAlreadyExistsError,
    );
    expect(exists.fn).toHaveBeenCalledTimes(1);

    const invalid = fakeFetch(() =>
      mlflowError(400, 'INVALID_PARAMETER_VALUE', "Invalid clause(s) in filter string: 'bogus'"),
    );
    const err = await client(invalid.fn)
      .searchRuns({ experimentIds: ['1'], filter: 'bogus' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlflowInvalidInputError);
    expect((err as MlflowError).exitCode).toBe(EXIT_CODES.badInput);
    expect(invalid.fn).toHaveBeenCalledTimes(1);
  });

  it('treats an HTML 404 as a wrong endpoint, not a missing resource', async () => {
    const { fn } = fakeFetch(() => new Response('<h1>Not Found</h1>', { status: 404 }));
    const err = await client(fn)
      .getRun('r1')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlflowError);
    expect(err).not.toBeInstanceOf(MlflowNotFoundError);
    expect((err as MlflowError).message).toContain('failed (HTTP 404): Not Found (no such endpoint');
    expect((err as MlflowError).message).toContain('tracking URI');
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe('MlflowClient experiments and aliases', () => {
  it('getOrCreateExperiment looks the name up, creates the missing experiment and reads it', async () => {
    const exp = {
      experiment_id: '9',
      name: 'x y',
      artifact_location: 'mlflow-artifacts:/9',
      lifecycle_stage: 'active',
    };
    const { fn, requests } = fakeFetch((req) => {
      if (req.url.pathname.endsWith('/experiments/get-by-name'))
        return mlflowError(404, 'RESOURCE_DOES_NOT_EXIST', "Could not find experiment with name 'x y'");
      if (req.url.pathname.endsWith('/experiments/create')) return json(200, { experiment_id: '9' });
      return json(200, { experiment: exp });
    });
    const got = await client(fn).getOrCreateExperiment('x y', { tags: { owner: 'o' } });
    expect(got).toMatchObject({ experimentId: '9', name: 'x y', lifecycleStage: 'active', tags: [] });
    expect(requests.map((r) => `${r.method} ${r.url.pathname}`)).toEqual([
      'GET /api/2.0/mlflow/experiments/get-by-name',
      'POST /api/2.0/mlflow/experiments/create',
      'GET /api/2.0/mlflow/experiments/get',
    ]);
    expect(requests[0]?.url.searchParams.get('experiment_name')).toBe('x y');
    expect(requests[1]?.body).toEqual({ name: 'x y', tags: [{ key: 'owner', value: 'o' }] });
    expect(requests[2]?.url.searchParams.get('experiment_id')).toBe('9');
  });

  it('getOrCreateExperiment refuses a deleted experiment of that name', async () => {
    const exp = { experiment_id: '4', name: 'gone', lifecycle_stage: 'deleted' };
    const { fn } = fakeFetch(() => json(200, { experiment: exp }));
    const err = await client(fn)
      .getOrCreateExperiment('gone')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlflowInvalidInputError);
    expect((err as MlflowError).message).toBe(
      'MLflow experiment "gone" (id 4) is deleted; restore it in the MLflow UI or purge it with `mlflow gc`, ' +
        'or use another name',
    );
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('getOrCreateExperiment reads the winner when a concurrent create wins the race', async () => {
    const exp = { experiment_id: '9', name: 'e', artifact_location: 'mlflow-artifacts:/9', lifecycle_stage: 'active' };
    let lookups = 0;
    const { fn } = fakeFetch((req) => {
      if (req.url.pathname.endsWith('/experiments/get-by-name')) {
        lookups += 1;
        return lookups === 1 ? mlflowError(404, 'RESOURCE_DOES_NOT_EXIST', 'no') : json(200, { experiment: exp });
      }
      if (req.url.pathname.endsWith('/experiments/create'))
        return mlflowError(400, 'RESOURCE_ALREADY_EXISTS', 'exists');
      return json(500, {});
    });
    const got = await client(fn).getOrCreateExperiment('e');
    expect(got.experimentId).toBe('9');
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('getModelVersionByAlias answers undefined for an unset alias (400 INVALID_PARAMETER_VALUE)', async () => {
    const unset = fakeFetch(() =>
      mlflowError(400, 'INVALID_PARAMETER_VALUE', 'Registered model alias champion not found.'),
    );
    expect(await client(unset.fn).getModelVersionByAlias('m', 'champion')).toBeUndefined();
    expect(unset.fn).toHaveBeenCalledTimes(1);
    expect(unset.requests[0]?.url.pathname).toBe('/api/2.0/mlflow/registered-models/alias');

    const noModel = fakeFetch(() =>
      mlflowError(404, 'RESOURCE_DOES_NOT_EXIST', 'Registered Model with name=m not found'),
    );
    await expect(client(noModel.fn).getModelVersionByAlias('m', 'champion')).rejects.toBeInstanceOf(
      MlflowNotFoundError,
    );

    const badAlias = fakeFetch(() => mlflowError(400, 'INVALID_PARAMETER_VALUE', "Invalid alias name: 'a b'."));
    await expect(client(badAlias.fn).getModelVersionByAlias('m', 'a b')).rejects.toBeInstanceOf(
      MlflowInvalidInputError,
    );
  });
});

describe('MlflowClient artifact errors', () => {
  it('maps a missing artifact (the proxy answers 500 wrapping S3 404) to not-found, without retrying', async () => {
    const { fn, requests } = fakeFetch(() =>
      mlflowError(
        500,
        'INTERNAL_ERROR',
        'The following failures occurred while downloading one or more artifacts from s3://mlo/x:\n' +
          'An error occurred (404) when calling the HeadObject operation: Not Found',
      ),
    );
    await expect(
      client(fn).downloadArtifact('mlflow-artifacts:/7/r1/artifacts', 'model/model onnx'),
    ).rejects.toBeInstanceOf(MlflowNotFoundError);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(requests[0]?.url.pathname).toBe('/api/2.0/mlflow-artifacts/artifacts/7/r1/artifacts/model/model%20onnx');
  });
});

describe('isRetryable', () => {
  it('isRetryable classifies errors', () => {
    const init = { method: 'GET', endpoint: '/x' };
    expect(isRetryable(connectionRefused())).toBe(true);
    expect(isRetryable(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryable(new DOMException('timed out', 'TimeoutError'))).toBe(true);
    expect(isRetryable(new DOMException('aborted', 'AbortError'))).toBe(false);
    expect(isRetryable(new MlflowError('x', { ...init, status: 502 }))).toBe(true);
    expect(isRetryable(new MlflowError('x', { ...init, status: 429 }))).toBe(true);
    expect(isRetryable(new MlflowNotFoundError('x', { ...init, status: 404 }))).toBe(false);
    expect(isRetryable(new MlflowInvalidInputError('x', { ...init, status: 400 }))).toBe(false);
    expect(isRetryable(new MlflowUnavailableError('x', init, 3))).toBe(true);
    expect(isRetryable(new Error('boom'))).toBe(false);
    expect(isRetryable(new TypeError('Cannot read properties of undefined'))).toBe(false);
    expect(isRetryable(new TypeError('fetch failed'))).toBe(true);
    expect(isRetryable(new TypeError('fetch failed', { cause: new Error('bad port') }))).toBe(false);
    expect(
      isRetryable(
        new TypeError('fetch failed', {
          cause: Object.assign(new Error('getaddrinfo ENOTFOUND x'), { code: 'ENOTFOUND' }),
        }),
      ),
    ).toBe(false);
    expect(
      isRetryable(
        new TypeError('terminated', {
          cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
        }),
      ),
    ).toBe(true);
  });
});

describe('MlflowClient waiting for a model version', () => {
  const version = (status: string, statusMessage = '') =>
    json(200, { model_version: { name: 'm', version: '3', status, status_message: statusMessage } });

  it('polls until the version is READY', async () => {
    const { fn } = fakeFetch((_req, call) => version(call < 3 ? 'PENDING_REGISTRATION' : 'READY'));
    const mv = await client(fn).waitForModelVersionReady('m', 3, { pollIntervalMs: 1 });
    expect(mv.status).toBe('READY');
    expect(fn).toHaveBeenCalledTimes(3);
  });

  it('fails for good on FAILED_REGISTRATION, and retryably when still pending at the deadline', async () => {
    const failed = fakeFetch(() => version('FAILED_REGISTRATION', 'copy failed'));
    const err = await client(failed.fn)
      .waitForModelVersionReady('m', 3)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlflowError);
    expect(err).toMatchObject({
      message: 'MLflow model version m/3 failed registration: copy failed',
      errorCode: 'FAILED_REGISTRATION',
      endpoint: '/api/2.0/mlflow/model-versions/get',
    });
    expect(isRetryable(err)).toBe(false);

    const pending = fakeFetch(() => version('PENDING_REGISTRATION'));
    const late = await client(pending.fn)
      .waitForModelVersionReady('m', 3, { waitTimeoutMs: 20, pollIntervalMs: 5 })
      .catch((e: unknown) => e);
    expect(late).toMatchObject({
      message: 'MLflow model version m/3 is still PENDING_REGISTRATION after 20 ms',
      errorCode: 'DEADLINE_EXCEEDED',
    });
    expect(isRetryable(late)).toBe(true);
  });
});

describe('MlflowClient permanent fetch failures', () => {
  it('does not retry a fetch failure that cannot heal (port 1 is a "bad port" to fetch)', async () => {
    const real = new MlflowClient({
      trackingUri: 'http://127.0.0.1:1',
      retry: { attempts: 5, baseDelayMs: 1000, maxDelayMs: 1000 },
    });
    const started = Date.now();
    const err = await real.getRun('r1').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(900);
    expect(err).toBeInstanceOf(MlflowError);
    expect(err).not.toBeInstanceOf(MlflowUnavailableError);
    expect((err as MlflowError).message).toContain('bad port');
  });
});

describe('MlflowClient aborts', () => {
  it('stops retrying as soon as the signal aborts during a backoff', async () => {
    const { fn } = fakeFetch(() => {
      throw connectionRefused();
    });
    const c = client(fn, { retry: { attempts: 10, baseDelayMs: 10_000, maxDelayMs: 10_000 } });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const started = Date.now();
    const err = await c.getRun('r1', { signal: ac.signal }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((err as Error).name).toBe('AbortError');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('rejects with the signal reason while a request is in flight', async () => {
    const { fn } = fakeFetch((req) => hang(req.init));
    const ac = new AbortController();
    const reason = new Error('activity cancelled');
    setTimeout(() => ac.abort(reason), 20);
    await expect(client(fn).getRun('r1', { signal: ac.signal })).rejects.toBe(reason);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('does not call fetch when the signal is already aborted', async () => {
    const { fn } = fakeFetch(() => json(200, RUN));
    const ac = new AbortController();
    ac.abort();
    await expect(client(fn).getRun('r1', { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(fn).not.toHaveBeenCalled();
  });
});

describe("MlflowClient inside an activity: the activity's cancellation", () => {
  it('an ambient signal aborts a call in flight and its retries, without a signal of the call', async () => {
    const { fn } = fakeFetch((req) => hang(req.init));
    const ac = new AbortController();
    const reason = new Error('activity cancelled');
    const c = client(fn, { ambientSignal: () => ac.signal });
    setTimeout(() => ac.abort(reason), 20);
    await expect(c.getRun('r1')).rejects.toBe(reason);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("the workers' client stops when its activity is cancelled, and tries only briefly", async () => {
    const deps = buildDeps(loadConfig());
    expect(deps.mlflow.retry).toEqual(ACTIVITY_MLFLOW_RETRY);
    // Three attempts within a few seconds of backoff: longer outages are Temporal's to retry.
    const { attempts, baseDelayMs, maxDelayMs } = ACTIVITY_MLFLOW_RETRY;
    const backoff = Array.from({ length: attempts - 1 }, (_, i) => Math.min(maxDelayMs, baseDelayMs * 2 ** i));
    expect(backoff.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(5_000);
    expect(activityCancellation()).toBeUndefined(); // outside an activity

    const { fn } = fakeFetch((req) => hang(req.init));
    const c = client(fn, { ambientSignal: activityCancellation });
    const env = new MockActivityEnvironment();
    setTimeout(() => env.cancel(), 20);
    const err = await env.run(() => c.getRun('r1')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledFailure);
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe('MlflowClient log-batch', () => {
  it('splits log-batch into requests within the server limits', async () => {
    const { fn, requests } = fakeFetch(() => json(200, {}));
    const metrics = Array.from({ length: 2500 }, (_, i) => ({ key: `m${i % 7}`, value: i, step: i, timestamp: 1 }));
    const params = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`p${i}`, i]));
    const tags = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`t${i}`, `v${i}`]));
    const sent = await client(fn).logBatch('r1', { metrics, params, tags });
    expect(sent).toBe(3);
    expect(fn).toHaveBeenCalledTimes(3);
    type Body = { run_id: string; metrics: { step: number }[]; params: { key: string }[]; tags: { key: string }[] };
    const bodies = requests.map((r) => r.body as Body);
    for (const [i, b] of bodies.entries()) {
      expect(requests[i]?.url.pathname).toBe('/api/2.0/mlflow/runs/log-batch');
      expect(b.run_id).toBe('r1');
      expect(b.metrics.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.metrics);
      expect(b.params.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.params);
      expect(b.tags.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.tags);
      expect(b.metrics.length + b.params.length + b.tags.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.total);
    }
    expect(bodies.flatMap((b) => b.metrics.map((m) => m.step))).toEqual(metrics.map((m) => m.step));
    expect(bodies.flatMap((b) => b.params.map((p) => p.key))).toEqual(Object.keys(params));
    expect(bodies.flatMap((b) => b.tags.map((t) => t.key))).toEqual(Object.keys(tags));
  });

  it('sends nothing for an empty batch, and keeps big values under the byte bound', async () => {
    const { fn } = fakeFetch(() => json(200, {}));
    expect(await client(fn).logBatch('r1', {})).toBe(0);
    expect(fn).not.toHaveBeenCalled();
    const chunks = chunkBatch(
      [],
      Array.from({ length: 100 }, (_, i) => ({ key: `p${i}`, value: 'x'.repeat(6000) })),
      Array.from({ length: 100 }, (_, i) => ({ key: `t${i}`, value: 'y'.repeat(8000) })),
    );
    expect(chunks.length).toBe(2);
    for (const c of chunks) expect(Buffer.byteLength(JSON.stringify(c))).toBeLessThan(LOG_BATCH_LIMITS.bytes);
  });

  it('encodes non-finite metric values as protobuf JSON strings', async () => {
    const { fn, requests } = fakeFetch(() => json(200, {}));
    await client(fn).logBatch('r1', {
      metrics: [
        { key: 'loss', value: NaN, step: 2, timestamp: 5 },
        { key: 'hi', value: Infinity, step: 2.7, timestamp: 5.5 },
        { key: 'lo', value: -Infinity, timestamp: 5 },
      ],
    });
    expect(requests[0]?.body).toEqual({
      run_id: 'r1',
      metrics: [
        { key: 'loss', value: 'NaN', step: 2, timestamp: 5 },
        { key: 'hi', value: 'Infinity', step: 2, timestamp: 5 },
        { key: 'lo', value: '-Infinity', step: 0, timestamp: 5 },
      ],
      params: [],
      tags: [],
    });
  });
});

describe('MlflowClient runs', () => {
  it('ends a run with its status and the end time now', async () => {
    const { fn, requests } = fakeFetch(() => json(200, { run_info: { ...RUN.run.info, status: 'KILLED' } }));
    const before = Date.now();
    const info = await client(fn).endRun('r1', 'KILLED');
    expect(info).toMatchObject({ runId: 'r1', status: 'KILLED', experimentId: '7' });
    expect(requests[0]?.url.pathname).toBe('/api/2.0/mlflow/runs/update');
    const body = requests[0]?.body as { run_id: string; status: string; end_time: number };
    expect(body).toEqual({ run_id: 'r1', status: 'KILLED', end_time: body.end_time });
    expect(body.end_time).toBeGreaterThanOrEqual(before);
  });

  it('creates a child run with the parent tag', async () => {
    const { fn, requests } = fakeFetch(() => json(200, RUN));
    await client(fn).createRun({
      experimentId: '7',
      runName: 'trial-1',
      parentRunId: 'p1',
      startTime: 42,
      tags: { a: 'b' },
    });
    expect(requests[0]?.body).toEqual({
      experiment_id: '7',
      run_name: 'trial-1',
      start_time: 42,
      tags: [
        { key: 'a', value: 'b' },
        { key: 'mlflow.parentRunId', value: 'p1' },
      ],
    });
  });
});

describe('MlflowClient requests', () => {
  it('uploads an artifact as a raw octet-stream body', async () => {
    const { fn, requests } = fakeFetch(() => new Response(null, { status: 200 }));
    await client(fn).uploadArtifact('mlflow-artifacts:/7/r1/artifacts', 'model/meta data.json', '{"ok":true}');
    const req = requests[0];
    expect(req?.method).toBe('PUT');
    expect(req?.url.pathname).toBe('/api/2.0/mlflow-artifacts/artifacts/7/r1/artifacts/model/meta%20data.json');
    expect((req?.init?.headers as Record<string, string>)['content-type']).toBe('application/octet-stream');
    expect(new TextDecoder().decode(req?.body as Uint8Array)).toBe('{"ok":true}');
  });

  it('deletes an alias with DELETE and a JSON body; searches with repeated order_by', async () => {
    const { fn, requests } = fakeFetch(() => json(200, {}));
    const c = client(fn);
    await c.deleteAlias('m', 'champion');
    expect(requests[0]?.method).toBe('DELETE');
    expect(requests[0]?.body).toEqual({ name: 'm', alias: 'champion' });
    const page = await c.searchModelVersions({ filter: "name = 'm'", orderBy: ['version_number DESC', 'name ASC'] });
    expect(page).toEqual({ items: [], nextPageToken: undefined });
    expect(requests[1]?.url.searchParams.getAll('order_by')).toEqual(['version_number DESC', 'name ASC']);
    expect(requests[1]?.url.searchParams.get('filter')).toBe("name = 'm'");
  });

  it('builds from the configuration', () => {
    const cfg = loadConfig({ MLO_MLFLOW_TRACKING_URI: 'http://mlflow.example:5000/' });
    expect(MlflowClient.fromConfig(cfg).trackingUri).toBe('http://mlflow.example:5000');
  });

  it('takes only an http(s) tracking URI and at least one attempt', () => {
    expect(new MlflowClient({ trackingUri: 'https://mlflow.example//' }).trackingUri).toBe('https://mlflow.example');
    for (const trackingUri of ['mlflow.example:5000', 'file:///tmp/mlruns', 'not a url']) {
      expect(() => new MlflowClient({ trackingUri })).toThrow(
        `MLflow tracking URI must be an http(s) URL, got "${trackingUri}"`,
      );
    }
    expect(() => new MlflowClient({ trackingUri: BASE, retry: { attempts: 0 } })).toThrow(MlflowInvalidInputError);
  });
});

describe('artifact and filter helpers', () => {
  it('maps run artifact URIs to proxy paths', () => {
    expect(artifactProxyPath('mlflow-artifacts:/1/abc/artifacts')).toBe('1/abc/artifacts');
    expect(artifactProxyPath('mlflow-artifacts://host:5050/1/abc/artifacts/')).toBe('1/abc/artifacts');
    expect(artifactProxyPath('http://host:5050/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts')).toBe(
      '1/abc/artifacts',
    );
    expect(() => artifactProxyPath('s3://bucket/1/abc/artifacts')).toThrow(MlflowInvalidInputError);
  });

  it('rejects artifact paths that climb out of the run', async () => {
    const { fn } = fakeFetch(() => json(200, {}));
    await expect(
      client(fn).uploadArtifact('mlflow-artifacts:/1/abc/artifacts', '../other/x', 'data'),
    ).rejects.toBeInstanceOf(MlflowInvalidInputError);
    expect(fn).not.toHaveBeenCalled();
  });

  it('quotes filter values and tag keys', () => {
    expect(quoteFilterValue('abc')).toBe("'abc'");
    expect(quoteFilterValue("it's")).toBe('"it\'s"');
    expect(() => quoteFilterValue(`'"`)).toThrow(MlflowInvalidInputError);
    expect(tagFilterKey('owner')).toBe('tags.owner');
    expect(tagFilterKey('team.cost-center')).toBe('tags.`team.cost-center`');
    expect(() => tagFilterKey('a`b')).toThrow(MlflowInvalidInputError);
  });

  it('reports invalid input caught before any request without a method or endpoint', () => {
    const err = invalidInput('bad');
    expect(err).toBeInstanceOf(MlflowInvalidInputError);
    expect(err).toMatchObject({ message: 'bad', kind: 'invalid_input', method: '', endpoint: '' });
  });
});
