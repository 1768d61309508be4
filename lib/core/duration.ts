/** Durations in model specs: a whole number and a unit, e.g. 90s, 10m, 1h, 24h, 7d, 2w. */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export const DURATION_HELP = 'a whole number and a unit (s, m, h, d or w), e.g. 90s, 10m, 1h, 24h, 7d';

/** Milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (!m?.[1] || !m[2]) return undefined;
  const n = Number(m[1]);
  const unit = UNITS[m[2]];
  if (!unit || n <= 0) return undefined;
  return n * unit;
}

export function formatDuration(ms: number): string {
  for (const [u, f] of [
    ['w', UNITS.w],
    ['d', UNITS.d],
    ['h', UNITS.h],
    ['m', UNITS.m],
    ['s', UNITS.s],
  ] as const) {
    if (f && ms % f === 0 && ms >= f) return `${ms / f}${u}`;
  }
  return `${ms}ms`;
}
