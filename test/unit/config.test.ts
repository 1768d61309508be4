import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/infra/config';
import { ConfigError } from '../../lib/core/errors';

describe('loadConfig', () => {
  it('defaults point at the local dev stack', () => {
    const cfg = loadConfig({ HOME: '/home/u' });
    expect(cfg.temporal).toEqual({
      address: '127.0.0.1:7233',
      namespace: 'default',
      uiUrl: 'http://127.0.0.1:8233',
      tls: false,
      sources: { address: 'dev stack', namespace: 'dev stack', tls: 'dev stack' },
    });
    expect(cfg.stack.oidcPort).toBe(7380);
    expect(cfg.mlflow.credentials).toBeUndefined();
    expect(cfg.s3.endpoint).toBe('http://127.0.0.1:7070');
    expect(cfg.s3.bucket).toBe('mlo');
    expect(cfg.s3.forcePathStyle).toBe(true);
    expect(cfg.mlflow.trackingUri).toBe('http://127.0.0.1:5050');
    expect(cfg.taskQueues).toEqual({
      orchestrator: 'mlo-orchestrator',
      cpu: 'mlo-cpu',
      gpu: 'mlo-gpu',
      features: 'mlo-cpu-features',
      evaluation: 'mlo-cpu-evaluation',
      cpuTraining: 'mlo-cpu-training',
    });
    expect(cfg.slots).toEqual({ cpu: 4, features: 2, evaluation: 1, cpuTraining: 1 });
    expect(cfg.shutdown).toEqual({ graceMs: 20_000, forceMs: 30_000 });
    expect(cfg.stack.toolsCache).toBe('/home/u/.cache/mlo/tools');
  });

  it('derives client defaults from the stack ports', () => {
    const cfg = loadConfig({
      MLO_TEMPORAL_PORT: '17233',
      MLO_S3_PORT: '17070',
      MLO_MLFLOW_PORT: '15050',
      MLO_TEMPORAL_UI_PORT: '18233',
    });
    expect(cfg.temporal.address).toBe('127.0.0.1:17233');
    expect(cfg.temporal.uiUrl).toBe('http://127.0.0.1:18233');
    expect(cfg.s3.endpoint).toBe('http://127.0.0.1:17070');
    expect(cfg.mlflow.trackingUri).toBe('http://127.0.0.1:15050');
  });

  it('explicit addresses win over the stack defaults, and blanks count as unset', () => {
    const cfg = loadConfig({
      MLO_TEMPORAL_ADDRESS: 'temporal.internal:7233',
      MLO_TEMPORAL_NAMESPACE: 'ml-prod',
      MLO_S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com',
      MLO_S3_BUCKET: 'risk-ml-artifacts',
      MLO_MLFLOW_TRACKING_URI: 'https://mlflow.internal/',
      MLO_QUEUE_GPU: 'gpu-a100',
      MLO_GPU_COUNT: '4',
      MLO_S3_REGION: '',
    });
    expect(cfg.temporal.address).toBe('temporal.internal:7233');
    expect(cfg.temporal.namespace).toBe('ml-prod');
    expect(cfg.s3.bucket).toBe('risk-ml-artifacts');
    expect(cfg.s3.region).toBe('us-east-1');
    expect(cfg.mlflow.trackingUri).toBe('https://mlflow.internal');
    expect(cfg.taskQueues.gpu).toBe('gpu-a100');
    expect(cfg.gpu.count).toBe(4);
  });

  it('slots and queues per kind of CPU work, and the shutdown grace, are configured', () => {
    const cfg = loadConfig({
      MLO_QUEUE_CPU: 'cpu-eu',
      MLO_QUEUE_EVALUATION: 'eval-eu',
      MLO_SLOTS_FEATURES: '6',
      MLO_SLOTS_CPU_TRAINING: '2',
      MLO_WORKER_SHUTDOWN_GRACE: '2m',
      MLO_WORKER_SHUTDOWN_FORCE: '3m',
    });
    expect(cfg.taskQueues).toMatchObject({
      cpu: 'cpu-eu',
      features: 'cpu-eu-features',
      evaluation: 'eval-eu',
      cpuTraining: 'cpu-eu-training',
    });
    expect(cfg.slots).toEqual({ cpu: 4, features: 6, evaluation: 1, cpuTraining: 2 });
    expect(cfg.shutdown).toEqual({ graceMs: 120_000, forceMs: 180_000 });
    expect(loadConfig({ MLO_WORKER_SHUTDOWN_GRACE: '0s' }).shutdown.graceMs).toBe(0);
  });

  it('refuses slot counts and shutdown times that make no sense, naming each variable', () => {
    let err: unknown;
    try {
      loadConfig({
        MLO_SLOTS_FEATURES: '0',
        MLO_SLOTS_EVALUATION: 'two',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      'MLO_SLOTS_FEATURES: MLO_SLOTS_FEATURES must be at least 1',
      'MLO_SLOTS_EVALUATION: MLO_SLOTS_EVALUATION must be a whole number of slots',
    ]);
    expect(() => loadConfig({ MLO_WORKER_SHUTDOWN_GRACE: '1h', MLO_WORKER_SHUTDOWN_FORCE: '10m' })).toThrow(
      expect.objectContaining({
        problems: [
          'MLO_WORKER_SHUTDOWN_FORCE: MLO_WORKER_SHUTDOWN_FORCE must be longer than MLO_WORKER_SHUTDOWN_GRACE (the grace comes first)',
        ],
      }) as Error,
    );
    expect(() => loadConfig({ MLO_WORKER_SHUTDOWN_GRACE: 'soon' })).toThrow(ConfigError);
  });

  it('reports every bad value at once, naming each variable', () => {
    let err: unknown;
    try {
      loadConfig({
        MLO_TEMPORAL_PORT: 'seventy',
        MLO_S3_PORT: '70000',
        MLO_TEMPORAL_ADDRESS: 'no-port-here',
        MLO_S3_ENDPOINT: 'ftp://x',
        MLO_S3_BUCKET: 'Bad_Bucket',
        MLO_MLFLOW_TRACKING_URI: 'not a url',
        MLO_QUEUE_CPU: 'has space',
        MLO_GPU_COUNT: '-1',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const v of [
      'MLO_TEMPORAL_PORT',
      'MLO_S3_PORT',
      'MLO_TEMPORAL_ADDRESS',
      'MLO_S3_ENDPOINT',
      'MLO_S3_BUCKET',
      'MLO_MLFLOW_TRACKING_URI',
      'MLO_QUEUE_CPU',
      'MLO_GPU_COUNT',
    ]) {
      expect(problems).toContain(v);
    }
    expect((err as ConfigError).problems).toHaveLength(8);
    expect((err as ConfigError).exitCode).toBe(2);
  });

  it('TLS to Temporal is on unless the address is loopback, and MLO_TEMPORAL_TLS decides when set', () => {
    expect(loadConfig({ MLO_TEMPORAL_ADDRESS: 'localhost:7233' }).temporal.tls).toBe(false);
    expect(loadConfig({ MLO_TEMPORAL_ADDRESS: '[::1]:7233' }).temporal.tls).toBe(false);
    expect(loadConfig({ MLO_TEMPORAL_ADDRESS: 'temporal.internal:7233' }).temporal.tls).toBe(true);
    expect(loadConfig({ MLO_TEMPORAL_ADDRESS: 'temporal.internal:7233', MLO_TEMPORAL_TLS: 'false' }).temporal.tls).toBe(
      false,
    );
    expect(() => loadConfig({ MLO_TEMPORAL_TLS: 'yes' })).toThrow('MLO_TEMPORAL_TLS must be "true" or "false"');
  });

  it("takes MLflow credentials from MLflow's own variables, both or neither", () => {
    const cfg = loadConfig({ MLFLOW_TRACKING_USERNAME: 'mlo-registry', MLFLOW_TRACKING_PASSWORD: 'p4ssw0rd-long' });
    expect(cfg.mlflow.credentials).toEqual({ username: 'mlo-registry', password: 'p4ssw0rd-long' });
    expect(() => loadConfig({ MLFLOW_TRACKING_USERNAME: 'mlo-registry' })).toThrow(
      'MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD go together',
    );
  });
});
