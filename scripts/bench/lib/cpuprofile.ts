/**
 * Summarizes V8 `.cpuprofile` files (node --cpu-prof) of the mlo backfill workers: every
 * sample is charged to the first category below whose frame is on its stack (so IPC encode
 * covers all of apache-arrow's work under tableToIPC, the kernel passes their own loops,
 * and so on), plus the functions with the most self time.
 */
import { readFileSync } from 'node:fs';

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

type Rule = { name: string; match: (fn: string, url: string) => boolean; leafOnly?: boolean };

const file = (f: string) => (url: string) => url.endsWith(f);
const RULES: Rule[] = [
  { name: 'GC', match: (fn) => fn === '(garbage collector)', leafOnly: true },
  { name: 'idle / program', match: (fn) => fn === '(idle)' || fn === '(program)', leafOnly: true },
  {
    name: 'benchmark, untimed: sha256 + write of the output',
    match: (fn, url) =>
      fn === 'writeFileSync' || ((fn === 'update' || fn === 'digest') && (url === '' || url.includes('crypto'))),
  },
  { name: 'IPC encode of the output (tableToIPC)', match: (fn) => fn === 'tableToIPC' },
  { name: 'IPC decode (readIpcTable)', match: (fn) => fn === 'readIpcTable' || fn === 'tableFromIPC' },
  { name: 'label index (buildLabelIndex)', match: (fn) => fn === 'buildLabelIndex' },
  ...['countPass', 'timeSincePass', 'sumPass', 'minPass', 'stdPass', 'distinctPass'].map((p) => ({
    name: `kernel pass: ${p}`,
    match: (fn: string, url: string) => fn === p && file('kernel-passes.ts')(url),
  })),
  {
    name: 'kernel layout (group by entity, time sort)',
    match: (fn, url) => fn === 'buildLayout' && file('kernel-layout.ts')(url),
  },
  {
    name: 'kernel gather (values/ids into layout order)',
    match: (fn, url) => (fn === 'gatherValues' || fn === 'gatherIds' || fn === 'runPasses') && file('kernel.ts')(url),
  },
  {
    name: 'kernel input checks (resolveTargets, checkFinite)',
    match: (fn, url) =>
      (fn === 'resolveTargets' || fn === 'checkFinite' || fn === 'validateAggSpecs') && file('kernel.ts')(url),
  },
  { name: 'kernel other', match: (fn, url) => fn === 'computeWindowedFeatures' && file('kernel.ts')(url) },
  {
    name: 'column extraction (arrow-io: timestampMs, numericColumn, idColumn, codedColumn)',
    match: (fn, url) => file('arrow-io.ts')(url) && fn !== 'readIpcTable',
  },
  {
    name: 'lookback row selection + copy (partition.ts)',
    match: (fn, url) =>
      ['filterF', 'filterI', 'concat', 'selectLookbackRows', 'gatherRows', 'spanOf'].includes(fn) &&
      file('partition.ts')(url),
  },
  {
    name: 'output vectors / table (partition.ts)',
    match: (fn, url) => (fn === 'float64Vector' || fn === 'makeVector' || fn === 'Table') && !url.includes('kernel'),
  },
  { name: 'computeFeaturePartition other (derived, labels, checks)', match: (fn, url) => file('partition.ts')(url) },
  {
    name: 'benchmark worker loop, TableCache',
    match: (_fn, url) => url.includes('backfill-worker') || url.includes('table-cache'),
  },
];

/** The category of a sample's node: the first rule that matches a frame of its stack (cached per node). */
function classifier(p: Profile): (id: number) => string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const categoryOf = new Map<number, string>();
  return (id: number): string => {
    const cached = categoryOf.get(id);
    if (cached !== undefined) return cached;
    const stack: Node[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) stack.push(byId.get(at)!);
    let cat = 'other';
    for (const r of RULES) {
      const frames = r.leafOnly ? stack.slice(0, 1) : stack;
      if (frames.some((n) => r.match(n.callFrame.functionName, n.callFrame.url))) {
        cat = r.name;
        break;
      }
    }
    categoryOf.set(id, cat);
    return cat;
  };
}

/** `fn lib/…:line`: a function and where it is, the path shortened to the package or the project folder. */
function locationOf(n: Node): string {
  const url = n.callFrame.url.replace(/^.*\/(node_modules\/[^/]+|lib|scripts)\//, '$1/');
  return `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
}

/** `  name…  1.23 s  45.6 %` */
function timeLine(name: string, ms: number, total: number): string {
  const share = ((100 * ms) / total).toFixed(1);
  return `  ${name.padEnd(78)} ${(ms / 1000).toFixed(2).padStart(7)} s ${share.padStart(5)} %`;
}

export function summarizeProfiles(files: string[]): string {
  if (files.length === 0) return 'no CPU profiles found';
  const byCategory = new Map<string, number>();
  const bySelf = new Map<string, number>();
  let total = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(f, 'utf8')) as Profile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const classify = classifier(p);
    for (let i = 0; i < p.samples.length; i++) {
      const dt = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000; // ms
      const id = p.samples[i]!;
      total += dt;
      const cat = classify(id);
      byCategory.set(cat, (byCategory.get(cat) ?? 0) + dt);
      const loc = locationOf(byId.get(id)!);
      bySelf.set(loc, (bySelf.get(loc) ?? 0) + dt);
    }
  }
  const profiles = `${files.length} profile${files.length > 1 ? 's' : ''}`;
  const lines = [
    `CPU profile of the mlo workers' timed loops (${profiles}, ${(total / 1000).toFixed(2)} s sampled), by category:`,
  ];
  for (const [k, v] of [...byCategory].sort((a, b) => b[1] - a[1])) lines.push(timeLine(k, v, total));
  lines.push('top functions by self time:');
  for (const [k, v] of [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, 20))
    lines.push(timeLine(k.slice(0, 78), v, total));
  return lines.join('\n');
}
