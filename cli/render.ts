/**
 * Pure rendering helpers of the `mlo` command: tables, the per-stage view of a run, elapsed
 * times, plain change lines and the in-place (ANSI) redraw. No I/O except LiveView's writes.
 */
import type { StageProgress } from '../lib/core/definitions';

/** 1m02s, 3h04m, 45s; under a second prints 0s. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

/** Left-aligned columns, two spaces apart; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string[] {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

function progressText(p: StageProgress['progress']): string {
  if (!p) return '';
  return `${p.unit} ${p.done}/${p.total}`;
}

/** Elapsed time of a stage: start to end, or start to now while it runs. */
function stageElapsed(s: StageProgress, now: number): string {
  if (!s.startedAt) return '';
  const start = Date.parse(s.startedAt);
  const end = s.endedAt ? Date.parse(s.endedAt) : now;
  return Number.isFinite(start) && Number.isFinite(end) ? formatElapsed(end - start) : '';
}

const STATUS_MARK: Record<StageProgress['status'], string> = {
  pending: '·',
  running: '▶',
  succeeded: '✓',
  failed: '✗',
  skipped: '–',
};

/** The stage table: one row per stage (status, progress, elapsed, message). */
export function renderStages(stages: StageProgress[], now: number, opts: { color?: boolean } = {}): string[] {
  const paint = (s: StageProgress['status'], text: string) => {
    if (!opts.color) return text;
    const code = s === 'succeeded' ? 32 : s === 'failed' ? 31 : s === 'running' ? 36 : s === 'skipped' ? 33 : 2;
    return `\x1b[${code}m${text}\x1b[0m`;
  };
  const rows = stages.map((s) => [
    `${STATUS_MARK[s.status]} ${s.stage}`,
    s.status,
    progressText(s.progress),
    stageElapsed(s, now),
    s.message ?? '',
  ]);
  const lines = table(
    ['   stage', 'status', 'progress', 'elapsed', ''],
    rows.map((r) => [` ${r[0] ?? ''}`, ...r.slice(1)]),
  );
  return lines.map((l, i) => (i === 0 ? l : paint(stages[i - 1]?.status ?? 'pending', l)));
}

/** The key of a stage's visible state: a plain line is printed when it changes. */
function stageKey(s: StageProgress): string {
  return [s.status, progressText(s.progress), s.message ?? ''].join('|');
}

/** One plain line for a stage that changed, e.g. `featureBackfill running partitions 12/60`. */
export function stageLine(s: StageProgress, now: number): string {
  const parts = [s.stage.padEnd(15), s.status.padEnd(9)];
  const p = progressText(s.progress);
  if (p) parts.push(p);
  if (s.status !== 'pending' && s.status !== 'running') {
    const e = stageElapsed(s, now);
    if (e) parts.push(`(${e})`);
  }
  if (s.message) parts.push(`— ${s.message}`);
  return parts.join(' ').trimEnd();
}

/** Plain lines for the stages whose visible state changed since `seen` (updated in place). */
export function changedStageLines(stages: StageProgress[], seen: Map<string, string>, now: number): string[] {
  const out: string[] = [];
  for (const s of stages) {
    const k = stageKey(s);
    if (seen.get(s.stage) === k) continue;
    const first = !seen.has(s.stage);
    seen.set(s.stage, k);
    if (first && s.status === 'pending') continue; // nothing to say yet
    out.push(stageLine(s, now));
  }
  return out;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

export function visibleLength(s: string): number {
  return s.replace(ANSI, '').length;
}

/** Cuts a line to the terminal width (ANSI colour codes do not count), so the redraw stays aligned. */
export function fitLine(s: string, width: number): string {
  if (width <= 0 || visibleLength(s) <= width) return s;
  let out = '';
  let n = 0;
  for (let i = 0; i < s.length;) {
    // eslint-disable-next-line no-control-regex
    const m = s.startsWith('\x1b[', i) ? /^\x1b\[[0-9;]*m/.exec(s.slice(i)) : null;
    if (m) {
      out += m[0];
      i += m[0].length;
      continue;
    }
    if (n >= width - 1) break;
    out += s[i];
    n++;
    i++;
  }
  return `${out}…${s.includes('\x1b[') ? '\x1b[0m' : ''}`;
}

/** The escape sequence that moves the cursor up `n` lines to their start and clears below. */
export function eraseLines(n: number): string {
  return n > 0 ? `\x1b[${n}F\x1b[0J` : '';
}

/** A block of lines redrawn in place on a terminal. */
export class LiveView {
  private shown = 0;
  constructor(private readonly out: { write(s: string): unknown; columns?: number }) {}

  draw(lines: string[]): void {
    const width = this.out.columns ?? 0;
    const fitted = lines.map((l) => fitLine(l, width));
    this.out.write(`${eraseLines(this.shown)}${fitted.map((l) => `${l}\n`).join('')}`);
    this.shown = fitted.length;
  }

  /** Keeps what is drawn; later output goes below it. */
  done(): void {
    this.shown = 0;
  }
}

/** A shell-safe rendering of an argument (quoted only when needed). */
export function shellArg(s: string): string {
  return /^[A-Za-z0-9@%_+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
