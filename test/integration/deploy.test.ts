/**
 * The deployment artefacts, checked offline:
 *   - the Helm chart (deploy/helm/mlo): `helm lint --strict`, then `helm template` validated by
 *     kubeconform against Kubernetes' schemas from the PyPI package kubernetes-validate (no
 *     download) and, for KEDA's ScaledObject, the schema in deploy/helm/schemas; helm and
 *     kubeconform are built from Go modules on first use (lib/stack/tools.ts);
 *   - the images' install steps (deploy/docker/install.sh), run outside a container into a
 *     temporary prefix: the installed workers start from it, poll the dev stack's Temporal and stop
 *     cleanly on SIGTERM; the CLI runs; the trainers' Python libraries import from its venv.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadStackConfig, PROJECT_ROOT } from '../../lib/infra/config';
import { ensureHelm, ensureKubeconform, ensureKubernetesSchemas } from '../../lib/stack/tools';
import { uniqueName } from '../helpers/temporal';

const stack = loadStackConfig();
const CHART = path.join(PROJECT_ROOT, 'deploy', 'helm', 'mlo');
const CRD_SCHEMAS = path.join(PROJECT_ROOT, 'deploy', 'helm', 'schemas');
const DOCKER = path.join(PROJECT_ROOT, 'deploy', 'docker');
/** The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest with schemas. */
const KUBERNETES_VERSIONS = ['1.27.0', '1.37.0'];
/** The first build of helm and kubeconform on a fresh machine takes minutes. */
const BUILD_TIMEOUT_MS = 30 * 60_000;

type Run = { code: number | null; stdout: string; stderr: string };

function run(cmd: string, args: string[], opts: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  const r = spawnSync(cmd, args, {
    input: opts.input,
    cwd: opts.cwd ?? PROJECT_ROOT,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec?: Record<string, unknown> };

describe('Helm chart deploy/helm/mlo', () => {
  let helm: string;
  let kubeconform: string;
  let schemaLocation: string;

  beforeAll(async () => {
    const log = (line: string) => console.log(`[deploy test] ${line}`);
    helm = await ensureHelm(stack, log);
    kubeconform = await ensureKubeconform(stack, log);
    schemaLocation = ensureKubernetesSchemas(stack, KUBERNETES_VERSIONS, log).schemaLocation;
  }, BUILD_TIMEOUT_MS);

  /** `helm template` with --set pairs; the rendered YAML or the failure. */
  function template(set: string[] = [], extra: string[] = []): Run {
    return run(helm, [
      'template',
      'prod',
      CHART,
      '--namespace',
      'mlo',
      '--kube-version',
      KUBERNETES_VERSIONS.at(-1)!,
      ...set.flatMap((s) => ['--set', s]),
      ...extra,
    ]);
  }

  function manifests(yaml: string): Manifest[] {
    return parseAllDocuments(yaml)
      .map((d) => d.toJS() as Manifest | null)
      .filter((m): m is Manifest => m !== null);
  }

  /** kubeconform, strict, against every supported Kubernetes version. */
  function validate(yaml: string, skip: string[] = []): Run[] {
    return KUBERNETES_VERSIONS.map((v) =>
      run(
        kubeconform,
        [
          '-strict',
          '-summary',
          '-kubernetes-version',
          v,
          '-schema-location',
          schemaLocation,
          '-schema-location',
          path.join(CRD_SCHEMAS, '{{ .ResourceKind }}{{ .KindSuffix }}.json'),
          ...(skip.length ? ['-skip', skip.join(',')] : []),
          '-',
        ],
        { input: yaml },
      ),
    );
  }

  it('passes helm lint --strict', () => {
    const r = run(helm, ['lint', '--strict', '--kube-version', KUBERNETES_VERSIONS[0]!, CHART]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('renders, with its defaults, manifests that validate against Kubernetes and KEDA schemas', () => {
    const r = template();
    expect(r.code, r.stderr).toBe(0);
    const kinds = manifests(r.stdout).map((m) => `${m.kind}/${m.metadata.name}`);
    expect(kinds.sort()).toEqual(
      [
        'ConfigMap/prod-mlo-config',
        'CronJob/prod-mlo-schedules-sync',
        'Deployment/prod-mlo-cpu',
        'Deployment/prod-mlo-gpu',
        'Deployment/prod-mlo-orchestrator',
        'PodDisruptionBudget/prod-mlo-cpu',
        'PodDisruptionBudget/prod-mlo-gpu',
        'PodDisruptionBudget/prod-mlo-orchestrator',
        'ScaledObject/prod-mlo-cpu',
        'ScaledObject/prod-mlo-gpu',
        'Service/prod-mlo-cpu-metrics',
        'Service/prod-mlo-gpu-metrics',
        'Service/prod-mlo-orchestrator-metrics',
        'ServiceAccount/prod-mlo',
      ].sort(),
    );
    for (const v of validate(r.stdout)) {
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(v.stdout).toMatch(/14 resources found parsing stdin - Valid: 14, Invalid: 0, Errors: 0, Skipped: 0/);
    }
  });

  it('gives each pool what its workers need: GPUs, shutdown time, non-root, ports, KEDA triggers per queue', () => {
    const all = manifests(template().stdout);
    const deployment = (pool: string) =>
      all.find((m) => m.kind === 'Deployment' && m.metadata.name === `prod-mlo-${pool}`);
    type Pod = {
      terminationGracePeriodSeconds: number;
      securityContext: { runAsNonRoot: boolean; runAsUser: number };
      nodeSelector?: Record<string, string>;
      tolerations?: { key: string }[];
      containers: {
        image: string;
        env: { name: string; value: string }[];
        resources: { limits: Record<string, unknown> };
        ports: { containerPort: number }[];
      }[];
    };
    const pod = (pool: string) => (deployment(pool)!.spec as { template: { spec: Pod } }).template.spec;
    for (const pool of ['orchestrator', 'cpu', 'gpu']) {
      const p = pod(pool);
      expect(p.terminationGracePeriodSeconds).toBeGreaterThan(30); // MLO_WORKER_SHUTDOWN_FORCE
      expect(p.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
      expect(p.containers[0]!.image).toBe(`mlo-${pool}:0.1.0`);
      expect(p.containers[0]!.env).toContainEqual({ name: 'MLO_POOL', value: pool });
    }
    expect(pod('gpu').containers[0]!.resources.limits['nvidia.com/gpu']).toBe(1);
    expect(pod('gpu').containers[0]!.env).toContainEqual({ name: 'MLO_GPU_COUNT', value: '1' });
    expect(pod('gpu').nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(pod('gpu').tolerations?.map((t) => t.key)).toEqual(['nvidia.com/gpu']);
    expect(pod('cpu').containers[0]!.resources.limits['nvidia.com/gpu']).toBeUndefined();
    expect(pod('cpu').containers[0]!.env).toContainEqual({ name: 'MLO_SLOTS_FEATURES', value: '2' });
    expect(pod('cpu').containers[0]!.env).toContainEqual({ name: 'MLO_METRICS_PORT_CPU', value: '9472' });
    expect(pod('cpu').containers[0]!.ports).toEqual([expect.objectContaining({ containerPort: 9472 })]);
    // An autoscaled pool's replicas belong to KEDA; a fixed one keeps its count.
    expect(deployment('cpu')!.spec!.replicas).toBeUndefined();
    expect(deployment('orchestrator')!.spec!.replicas).toBe(2);
    // Old and new orchestrators never run side by side (docs/operations.md, "Upgrade").
    expect(deployment('orchestrator')!.spec!.strategy).toEqual({ type: 'Recreate' });
    expect(deployment('cpu')!.spec!.strategy).toMatchObject({ type: 'RollingUpdate' });
    const cpuScaler = all.find((m) => m.kind === 'ScaledObject' && m.metadata.name === 'prod-mlo-cpu')!;
    const triggers = (cpuScaler.spec as { triggers: { type: string; metadata: Record<string, string> }[] }).triggers;
    expect(triggers.map((t) => [t.type, t.metadata.taskQueue, t.metadata.queueTypes])).toEqual([
      ['temporal', 'mlo-cpu', 'activity'],
      ['temporal', 'mlo-cpu-features', 'activity'],
      ['temporal', 'mlo-cpu-evaluation', 'activity'],
      ['temporal', 'mlo-cpu-training', 'activity'],
    ]);
    expect(triggers[0]!.metadata.endpoint).toBe('temporal-frontend.temporal.svc.cluster.local:7233');
  });

  it('renders every optional part valid too (ServiceMonitor skipped: its CRD schema is not shipped)', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    const r = template([
      'image.registry=123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      `image.digests.cpu=${digest}`,
      'pools.orchestrator.autoscaling.enabled=true',
      'metrics.serviceMonitor.enabled=true',
      'keda.triggerAuthenticationRef=mlo-temporal-scaler',
      'serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/mlo',
      'pools.gpu.gpus=2',
      'terminationGracePeriodSeconds=60',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const all = manifests(r.stdout);
    expect(all.filter((m) => m.kind === 'ScaledObject')).toHaveLength(3);
    expect(all.filter((m) => m.kind === 'ServiceMonitor')).toHaveLength(3);
    expect(r.stdout).toContain(`image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlo-cpu@${digest}`);
    expect(r.stdout).toContain('eks.amazonaws.com/role-arn: arn:aws:iam::123456789012:role/mlo');
    expect(r.stdout).toContain('nvidia.com/gpu: 2');
    for (const v of validate(r.stdout, ['ServiceMonitor'])) {
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(v.stdout).toMatch(/Invalid: 0, Errors: 0, Skipped: 3/);
    }
  });

  it('kubeconform rejects a misspelled Kubernetes field and a misspelled Temporal scaler parameter', () => {
    const yaml = template().stdout;
    const badPod = yaml.replace('terminationGracePeriodSeconds:', 'terminationGracePeriod:');
    const bad = validate(badPod)[0]!;
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/Deployment prod-mlo-orchestrator is invalid.*terminationGracePeriod/);
    const badScaler = yaml.replace('taskQueue: "mlo-gpu"', 'taskQeue: "mlo-gpu"');
    expect(badScaler).not.toBe(yaml);
    const bad2 = validate(badScaler)[0]!;
    expect(bad2.code).toBe(1);
    expect(bad2.stdout).toMatch(/ScaledObject prod-mlo-gpu is invalid.*taskQeue/);
  });

  it.each([
    [
      'a pod grace period not above the workers force time',
      ['terminationGracePeriodSeconds=30'],
      /terminationGracePeriodSeconds is 30, not more than MLO_WORKER_SHUTDOWN_FORCE \(30s\)/,
    ],
    [
      'a longer force time than the pod grace period',
      ['config.MLO_WORKER_SHUTDOWN_FORCE=2m'],
      /not more than MLO_WORKER_SHUTDOWN_FORCE \(120s\)/,
    ],
    [
      'a secret in the values',
      ['config.MLO_MLFLOW_REGISTRY_PASSWORD=hunter22'],
      /config.MLO_MLFLOW_REGISTRY_PASSWORD looks like a secret: put it in the Secret named by secrets.existingSecret/,
    ],
    ['a malformed digest', ['image.digests.gpu=latest'], /image.digests.gpu is "latest": a digest is sha256:/],
    ['no Secret named', ['secrets.existingSecret='], /secrets.existingSecret: name the Secret/],
    [
      'a misspelled value (values.schema.json)',
      ['pools.cpu.replicas=3'],
      /at '\/pools\/cpu': additional properties 'replicas' not allowed/,
    ],
    ['a GPU pool without GPUs', ['pools.gpu.gpus=0'], /at '\/pools\/gpu\/gpus': minimum: got 0, want 1/],
    [
      'more autoscaling replicas at least than at most',
      ['pools.cpu.autoscaling.minReplicaCount=5', 'pools.cpu.autoscaling.maxReplicaCount=2'],
      /pools.cpu.autoscaling: minReplicaCount 5 is above maxReplicaCount 2/,
    ],
  ])('refuses %s, naming the value and the fix', (_what, set, message) => {
    const r = template(set);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
  });
});

describe('Dockerfiles deploy/docker/Dockerfile.*', () => {
  const pools = ['orchestrator', 'cpu', 'gpu', 'cli'];
  it.each(pools)('%s: pinned base, install.sh, non-root, exec form, stop signal', (pool) => {
    const text = fs.readFileSync(path.join(DOCKER, `Dockerfile.${pool}`), 'utf8');
    expect(text).toMatch(/^ARG BASE_IMAGE=node:20\.19-bookworm-slim$/m);
    for (const from of text.match(/^FROM .*$/gm) ?? []) expect(from).toMatch(/^FROM \$\{BASE_IMAGE\}( AS build)?$/);
    expect(text).toMatch(new RegExp(`^\\s+deploy/docker/install\\.sh ${pool} /app$`, 'm'));
    expect(text).toMatch(/^USER 10001:10001$/m);
    const exec = text.match(/^(ENTRYPOINT|CMD) .*$/gm) ?? [];
    expect(exec.length).toBeGreaterThan(0);
    for (const line of exec) expect(() => JSON.parse(line.replace(/^\w+ /, '')) as unknown).not.toThrow();
    if (pool === 'cli') return;
    expect(text).toMatch(/^STOPSIGNAL SIGTERM$/m);
    expect(text).toContain('CMD ["node", "/usr/local/lib/mlo/healthcheck.cjs"]');
    expect(text).toContain(`CMD ["node", "--import", "tsx", "/app/workers/${pool}.ts"]`);
    expect(text.includes('python3 ')).toBe(pool === 'cpu' || pool === 'gpu');
  });
});

describe('image install steps (deploy/docker/install.sh), outside a container', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-install-'));
  // Each install holds up to 2 GB in some 100k files: removing them takes minutes on a busy disk.
  afterAll(() => fs.promises.rm(root, { recursive: true, force: true }), 15 * 60_000);

  function install(pool: string): string {
    const prefix = path.join(root, pool);
    const t0 = Date.now();
    const r = run('sh', [path.join(DOCKER, 'install.sh'), pool, prefix], {
      env: { ...process.env, NPM_CONFIG_PREFER_OFFLINE: 'true' },
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    console.log(`[deploy test] install.sh ${pool}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    return prefix;
  }

  /** Starts an installed worker as its image does, waits until it polls, stops it with SIGTERM. */
  async function startAndStop(prefix: string, pool: string, env: NodeJS.ProcessEnv): Promise<string> {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(prefix, 'workers', `${pool}.ts`)], {
      cwd: prefix,
      // The image's environment (NODE_ENV, MLO_POOL); the metrics endpoint off: its fixed default port may be
      // taken by the dev stack's own workers; readable log lines (the images log JSON) for the checks below.
      env: {
        ...process.env,
        NODE_ENV: 'production',
        MLO_LOG_FORMAT: 'text',
        MLO_STACK_DIR: stack.dir,
        MLO_POOL: pool,
        [`MLO_METRICS_PORT_${pool.toUpperCase()}`]: 'off',
        ...env,
      },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 120_000;
      while (!/polling task queue/.test(out)) {
        if (child.exitCode !== null)
          throw new Error(`the installed ${pool} worker exited (${child.exitCode}):\n${out}`);
        if (Date.now() > deadline) throw new Error(`the installed ${pool} worker did not poll within 120 s:\n${out}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      child.kill('SIGTERM');
      expect(await exited, out).toBe(0);
      expect(out).toContain(`[mlo ${pool} worker] stopped`);
      return out;
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }

  it(
    'orchestrator (and cli): production dependencies only; the worker polls and stops on SIGTERM; the CLI runs',
    async () => {
      const prefix = install('orchestrator');
      const modules = path.join(prefix, 'node_modules');
      for (const dep of ['tsx', '@temporalio/worker', 'onnxruntime-node'])
        expect(fs.existsSync(path.join(modules, dep))).toBe(true);
      for (const dev of ['vitest', 'typescript', 'eslint', '@temporalio/testing', '@duckdb/node-api'])
        expect(fs.existsSync(path.join(modules, dev)), dev).toBe(false);
      expect(fs.existsSync(path.join(prefix, '.venv'))).toBe(false);
      expect(fs.existsSync(path.join(prefix, 'test'))).toBe(false);
      // Only this platform's native binaries are kept.
      const ort = fs.readdirSync(path.join(modules, 'onnxruntime-node', 'bin', 'napi-v6'));
      expect(ort).toEqual([process.platform]);
      expect(fs.readdirSync(path.join(modules, '@temporalio', 'core-bridge', 'releases'))).toHaveLength(1);
      expect(
        run(process.execPath, ['-e', "require('onnxruntime-node'); console.log('ok')"], { cwd: prefix }).stdout,
      ).toBe('ok\n');

      const queue = uniqueName('test-image-orchestrator');
      const out = await startAndStop(prefix, 'orchestrator', { MLO_QUEUE_ORCHESTRATOR: queue });
      expect(out).toContain(`polling task queue "${queue}"`);

      // The CLI image's steps are the orchestrator's: its entry point from the same install.
      const cli = run(process.execPath, [path.join(prefix, 'bin', 'mlo.cjs'), 'models', 'validate'], {
        cwd: prefix,
        env: { ...process.env, MLO_STACK_DIR: stack.dir },
      });
      expect(cli.code, cli.stdout + cli.stderr).toBe(0);
      expect(cli.stdout).toMatch(/OK .*fraud-detector\.yaml/);
    },
    20 * 60_000,
  );

  it(
    'cpu and gpu: a venv with the trainers libraries; both workers poll and stop on SIGTERM',
    async () => {
      const prefix = install('cpu');
      const python = path.join(prefix, '.venv', 'bin', 'python');
      const imports = run(
        python,
        [
          '-c',
          'import lightgbm, sklearn, onnx, onnxmltools, skl2onnx, onnxruntime, pyarrow, numpy, pandas; ' +
            'import sys; sys.path.insert(0, "trainers"); import common.runner, common.model; print(sys.prefix)',
        ],
        { cwd: prefix },
      );
      expect(imports.code, imports.stderr).toBe(0);
      expect(imports.stdout.trim()).toBe(path.join(prefix, '.venv'));

      const cpuQueue = uniqueName('test-image-cpu');
      expect(await startAndStop(prefix, 'cpu', { MLO_QUEUE_CPU: cpuQueue })).toContain(
        `polling task queue "${cpuQueue}"`,
      );
      // The GPU image runs the same install steps (install.sh treats cpu and gpu alike) with another entry point.
      const gpuQueue = uniqueName('test-image-gpu');
      expect(await startAndStop(prefix, 'gpu', { MLO_QUEUE_GPU: gpuQueue, MLO_GPU_COUNT: '0' })).toContain(
        `polling task queue "${gpuQueue}"`,
      );
    },
    30 * 60_000,
  );

  it('refuses an unknown pool and a prefix that is not empty', () => {
    const bad = run('sh', [path.join(DOCKER, 'install.sh'), 'tpu', path.join(root, 'x')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown pool 'tpu': expected orchestrator, cpu, gpu or cli");
    const used = path.join(root, 'used');
    fs.mkdirSync(used);
    fs.writeFileSync(path.join(used, 'f'), '');
    const full = run('sh', [path.join(DOCKER, 'install.sh'), 'cli', used]);
    expect(full.code).toBe(2);
    expect(full.stderr).toContain(`${used} is not empty`);
  });
});
