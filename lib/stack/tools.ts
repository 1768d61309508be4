/**
 * The dev stack's tools, built or installed from the package registries this machine
 * reaches and never downloaded as prebuilt binaries:
 *   - mlo's Temporal server (`server/`, Temporal server + Web UI + mlo's auth): `go build` into a
 *     per-user cache, keyed by a hash of its sources;
 *   - versitygw (S3 API over a posix directory): `go install` into the same cache;
 *   - a Python venv `.venv` from the pinned requirements.txt (MLflow server, trainers' libraries).
 * Each build lives in `<cache>/<name>-<version>/` and `.tools/bin/<name>` links to it, so a
 * fresh clone reuses a build instead of repeating it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, type StackConfig } from '../infra/config';
import { StackError } from '../core/errors';

export const VERSITYGW_VERSION = '1.8.0';

type GoTool = { name: string; version: string; module: string; versionMatch: RegExp };

const VERSITYGW: GoTool = {
  name: 'versitygw',
  version: VERSITYGW_VERSION,
  module: `github.com/versity/versitygw/cmd/versitygw@v${VERSITYGW_VERSION}`,
  versionMatch: new RegExp(`${VERSITYGW_VERSION.replace(/\./g, '\\.')}`),
};

export const TOOLS_BIN = path.join(PROJECT_ROOT, '.tools', 'bin');
const VENV_DIR = path.join(PROJECT_ROOT, '.venv');
export const VENV_BIN = path.join(VENV_DIR, 'bin');
export const REQUIREMENTS = path.join(PROJECT_ROOT, 'requirements.txt');
/** mlo's Temporal server: its Go module (see server/README.md) and the binary's name. */
export const SERVER_DIR = path.join(PROJECT_ROOT, 'server');
export const SERVER_BINARY = 'mlo-temporal-server';

type Log = (line: string) => void;

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir || path.resolve(dir) === TOOLS_BIN) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

function versionOf(bin: string): string {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
}

function linkInto(binDir: string, name: string, target: string): string {
  fs.mkdirSync(binDir, { recursive: true });
  const link = path.join(binDir, name);
  try {
    if (fs.readlinkSync(link) === target) return link;
  } catch {
    /* missing or not a link */
  }
  fs.rmSync(link, { force: true });
  fs.symlinkSync(target, link);
  return link;
}

/** Runs a command, streaming its output into the log, and fails with its tail on error. */
export async function runLogged(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; log: Log; what: string },
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? PROJECT_ROOT,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    const onData = (b: Buffer) => {
      for (const line of b.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 40) tail.shift();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (err) => reject(new StackError(`${opts.what}: could not run ${cmd}: ${err.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new StackError(`${opts.what} failed (${cmd} ${args.join(' ')} exited ${code}):\n${tail.join('\n')}`));
    });
  });
}

async function ensureGoTool(tool: GoTool, stack: StackConfig, log: Log, opts: { allowPath: boolean }): Promise<string> {
  if (opts.allowPath) {
    const found = onPath(tool.name);
    if (found) {
      const v = versionOf(found);
      if (!tool.versionMatch.test(v))
        log(`note: using ${found} from PATH (${v.split('\n')[0]}); mlo is tested with ${tool.name} ${tool.version}`);
      return found;
    }
  }
  const dir = path.join(stack.toolsCache, `${tool.name}-${tool.version}`);
  const bin = path.join(dir, tool.name);
  if (!fs.existsSync(bin)) {
    const go = onPath('go');
    if (!go)
      throw new StackError(
        `${tool.name} ${tool.version} is not built and Go is not on PATH. ` +
          `Install Go 1.25+ (or put ${tool.name} on PATH) and run again.`,
      );
    log(`building ${tool.name} ${tool.version} with go install (first time only; a few minutes) into ${dir}`);
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    await runLogged(go, ['install', tool.module], {
      env: { ...process.env, GOBIN: tmp, GOFLAGS: `${process.env.GOFLAGS ?? ''} -trimpath`.trim() },
      log,
      what: `go install ${tool.module}`,
    });
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    try {
      fs.renameSync(tmp, dir); // atomic: a half-built tool never appears in the cache
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      if (!fs.existsSync(bin)) throw err; // another process finished first: use its build
    }
  }
  return linkInto(TOOLS_BIN, tool.name, bin);
}

/**
 * The hash that keys a build of mlo's Temporal server: `go.mod`, `go.sum` and every `*.go` file
 * under server/ except tests (`*_test.go`), by relative path and content. 12 hex characters.
 */
export function serverSourceHash(dir = SERVER_DIR): string {
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (e.isFile() && e.name.endsWith('.go') && !e.name.endsWith('_test.go')) files.push(r);
    }
  };
  walk('');
  const h = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', ...files.sort()]) {
    h.update(`${f}\0`);
    h.update(fs.readFileSync(path.join(dir, f)));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 12);
}

/**
 * mlo's Temporal server, built from server/ with `go build` the first time a source changes:
 * `<cache>/mlo-temporal-server-<hash>/mlo-temporal-server` (renamed into place whole, so a
 * half-built binary never appears), linked from `.tools/bin/mlo-temporal-server`.
 */
export async function ensureMloServer(stack: StackConfig, log: Log): Promise<string> {
  const hash = serverSourceHash();
  const dir = path.join(stack.toolsCache, `${SERVER_BINARY}-${hash}`);
  const bin = path.join(dir, SERVER_BINARY);
  if (!fs.existsSync(bin)) {
    const go = onPath('go');
    if (!go)
      throw new StackError(
        `mlo's Temporal server (${SERVER_DIR}) is not built for these sources (${hash}) and Go is not on PATH. ` +
          'Install Go 1.25+ and run again.',
      );
    log(
      `building mlo's Temporal server (${hash}) with go build into ${dir} (first time: ~6 min; after a change: ~30 s)`,
    );
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    try {
      await runLogged(go, ['build', '-trimpath', '-o', path.join(tmp, SERVER_BINARY), '.'], {
        cwd: SERVER_DIR,
        log,
        what: `go build of ${SERVER_DIR}`,
      });
      fs.mkdirSync(path.dirname(dir), { recursive: true });
      fs.renameSync(tmp, dir); // atomic: a half-built server never appears in the cache
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      if (!fs.existsSync(bin)) throw err; // another process finished first: use its build
    }
  }
  return linkInto(TOOLS_BIN, SERVER_BINARY, bin);
}

export function ensureVersitygw(stack: StackConfig, log: Log): Promise<string> {
  return ensureGoTool(VERSITYGW, stack, log, { allowPath: true });
}

function findPython(): string {
  for (const name of ['python3.13', 'python3.12', 'python3.11', 'python3.10', 'python3']) {
    const p = onPath(name);
    if (!p) continue;
    const r = spawnSync(p, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
    const [maj, min] = (r.stdout ?? '').trim().split('.').map(Number);
    if (maj === 3 && (min ?? 0) >= 10) return p;
  }
  throw new StackError('Python 3.10+ is needed for MLflow and the trainers; none was found on PATH.');
}

/**
 * Creates `.venv` and installs the pinned requirements when they changed since the last
 * install (a hash stamp in the venv), so a second run takes no time.
 */
export async function ensureVenv(log: Log): Promise<string> {
  const want = createHash('sha256').update(fs.readFileSync(REQUIREMENTS)).digest('hex');
  const stamp = path.join(VENV_DIR, '.mlo-requirements.sha256');
  const python = path.join(VENV_BIN, 'python');
  if (fs.existsSync(python) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').trim() === want) return python;
  if (!fs.existsSync(python)) {
    log(`creating the Python venv at ${VENV_DIR}`);
    await runLogged(findPython(), ['-m', 'venv', VENV_DIR], { log, what: 'python -m venv' });
  }
  log('installing the pinned Python requirements (MLflow, LightGBM, scikit-learn, ONNX tools, pyarrow) into .venv');
  await runLogged(
    python,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '-q', '-r', REQUIREMENTS],
    {
      log,
      what: 'pip install -r requirements.txt',
    },
  );
  fs.writeFileSync(stamp, `${want}\n`);
  return python;
}

// ---- Deployment checks: helm and kubeconform (Go modules), Kubernetes schemas (PyPI) ----

export const HELM_VERSION = '3.20.0';
export const KUBECONFORM_VERSION = '0.7.0';

const HELM: GoTool = {
  name: 'helm',
  version: HELM_VERSION,
  module: `helm.sh/helm/v3/cmd/helm@v${HELM_VERSION}`,
  versionMatch: new RegExp(`v${HELM_VERSION.replace(/\./g, '\\.')}`),
};

const KUBECONFORM: GoTool = {
  name: 'kubeconform',
  version: KUBECONFORM_VERSION,
  module: `github.com/yannh/kubeconform/cmd/kubeconform@v${KUBECONFORM_VERSION}`,
  versionMatch: new RegExp(`${KUBECONFORM_VERSION.replace(/\./g, '\\.')}`),
};

/**
 * helm, pinned: built once with `go install` into `<cache>/helm-<version>/` and linked from
 * `.tools/bin` (never one from PATH: the chart checks must not change with the machine).
 */
export function ensureHelm(stack: StackConfig, log: Log): Promise<string> {
  return ensureGoTool(HELM, stack, log, { allowPath: false });
}

/** kubeconform, pinned, built like helm. */
export function ensureKubeconform(stack: StackConfig, log: Log): Promise<string> {
  return ensureGoTool(KUBECONFORM, stack, log, { allowPath: false });
}

/** The JSON schemas shipped in the PyPI package kubernetes-validate (pinned in requirements.txt), in `.venv`. */
export function kubernetesValidateSchemas(venvDir = VENV_DIR): { dir: string; version: string } {
  const lib = path.join(venvDir, 'lib');
  const pythons = fs.existsSync(lib) ? fs.readdirSync(lib).filter((d) => d.startsWith('python')) : [];
  for (const py of pythons) {
    const pkg = path.join(lib, py, 'site-packages', 'kubernetes_validate');
    const dir = path.join(pkg, 'kubernetes-json-schema');
    if (!fs.existsSync(dir)) continue;
    const m = /__version__\s*=\s*['"]([^'"]+)['"]/.exec(fs.readFileSync(path.join(pkg, 'version.py'), 'utf8'));
    return { dir, version: m?.[1] ?? 'unknown' };
  }
  throw new StackError(
    `The Kubernetes schemas of the Python package kubernetes-validate are not in ${venvDir}. ` +
      'It is pinned in requirements.txt: run `npm run stack -- up` (or `npm test`) to install the venv.',
  );
}

/**
 * Kubernetes' JSON schemas for kubeconform, offline: kubernetes-validate's `v<version>-local-strict`
 * schemas, rewritten so that they resolve on disk. Each kind's schema carries an `$id` under
 * https://kubernetes.io/api/ and refers to `/api/_definitions.json`, which kubeconform would fetch
 * over HTTP; the copy drops the `$id`s and points the references at the `_definitions.json` beside
 * it. Written once per package version into `<cache>/kubernetes-schemas-<version>/` (renamed into
 * place whole). Returns the directory and the kubeconform `-schema-location` template for it.
 */
export function ensureKubernetesSchemas(
  stack: StackConfig,
  kubernetesVersions: string[],
  log: Log,
  venvDir = VENV_DIR,
): { dir: string; schemaLocation: string } {
  const source = kubernetesValidateSchemas(venvDir);
  const dir = path.join(stack.toolsCache, `kubernetes-schemas-${source.version}`);
  for (const version of kubernetesVersions) {
    const name = `v${version.replace(/^v/, '')}-local-strict`;
    const target = path.join(dir, name);
    if (fs.existsSync(target)) continue;
    const from = path.join(source.dir, name);
    if (!fs.existsSync(from))
      throw new StackError(
        `kubernetes-validate ${source.version} has no schemas for Kubernetes ${version} (${from}); ` +
          `it has ${fs
            .readdirSync(source.dir)
            .filter((d) => d.endsWith('-local-strict'))
            .map((d) => d.replace(/-local-strict$/, ''))
            .join(', ')}.`,
      );
    log(
      `writing Kubernetes ${version} schemas for kubeconform (from kubernetes-validate ${source.version}) to ${target}`,
    );
    const tmp = `${target}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.mkdirSync(tmp, { recursive: true });
    for (const file of fs.readdirSync(from)) {
      if (!file.endsWith('.json')) continue;
      const schema = JSON.parse(
        fs.readFileSync(path.join(from, file), 'utf8').replaceAll('"/api/_definitions.json#', '"_definitions.json#'),
      ) as Record<string, unknown>;
      delete schema.$id;
      fs.writeFileSync(path.join(tmp, file), JSON.stringify(schema));
    }
    try {
      fs.renameSync(tmp, target);
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      if (!fs.existsSync(target)) throw err; // another process finished first: use its copy
    }
  }
  return {
    dir,
    schemaLocation: path.join(
      dir,
      '{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}',
      '{{ .ResourceKind }}{{ .KindSuffix }}.json',
    ),
  };
}
