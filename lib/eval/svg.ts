/**
 * Small hand-written SVG charts for the reports: line charts on [0, 1]² (ROC, PR, reliability)
 * and overlaid histograms. Self-contained files, no scripts, no external fonts.
 */

export type Series = { name: string; color: string; points: [number, number][]; dots?: boolean };

const W = 520;
const H = 400;
const M = { left: 56, right: 16, top: 36, bottom: 48 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

export const COLORS = { candidate: '#d62728', champion: '#1f77b4', reference: '#999999' } as const;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const r3 = (x: number) => (Math.round(x * 10) / 10).toString();

export type LegendPlace = 'top-right' | 'bottom-right' | 'bottom-left' | 'top-left';

function frame(
  title: string,
  xLabel: string,
  yLabel: string,
  xTicks: { v: number; label: string }[],
  yTicks: { v: number; label: string }[],
  body: string,
  legend: { name: string; color: string }[],
  place: LegendPlace = 'top-right',
): string {
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      'font-family="Helvetica, Arial, sans-serif" font-size="12">',
  );
  parts.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<g transform="translate(${M.left},${M.top})">`);
  parts.push(`<rect width="${PW}" height="${PH}" fill="none" stroke="#333"/>`);
  for (const t of xTicks) {
    const x = r3(t.v * PW);
    parts.push(
      `<line x1="${x}" x2="${x}" y1="0" y2="${PH}" stroke="#eee"/>` +
        `<text x="${x}" y="${PH + 16}" text-anchor="middle">${esc(t.label)}</text>`,
    );
  }
  for (const t of yTicks) {
    const y = r3(PH - t.v * PH);
    parts.push(
      `<line x1="0" x2="${PW}" y1="${y}" y2="${y}" stroke="#eee"/>` +
        `<text x="-6" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(t.label)}</text>`,
    );
  }
  parts.push(body);
  if (legend.length > 0) {
    // ~6.5 px per character of 12 px Helvetica: wide enough, not measured.
    const w = 36 + 6.5 * Math.max(...legend.map((l) => l.name.length));
    const h = 8 + 16 * legend.length;
    const x0 = place.endsWith('right') ? PW - w - 6 : 6;
    const y0 = place.startsWith('top') ? 6 : PH - h - 6;
    parts.push(
      `<rect x="${r3(x0)}" y="${y0}" width="${r3(w)}" height="${h}" fill="#ffffff" fill-opacity="0.85" stroke="#ccc"/>`,
    );
    legend.forEach((l, i) => {
      const y = y0 + 12 + i * 16;
      parts.push(
        `<line x1="${r3(x0 + 6)}" x2="${r3(x0 + 26)}" y1="${y}" y2="${y}" stroke="${l.color}" stroke-width="2"/>` +
          `<text x="${r3(x0 + 32)}" y="${y}" dominant-baseline="middle">${esc(l.name)}</text>`,
      );
    });
  }
  parts.push(`</g>`);
  parts.push(`<text x="${M.left + PW / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(
    `<text transform="translate(14,${M.top + PH / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
  );
  parts.push(`</svg>`);
  return parts.join('\n');
}

const unitTicks = [0, 0.2, 0.4, 0.6, 0.8, 1].map((v) => ({ v, label: v.toFixed(1) }));

/** A line chart with both axes on [0, 1]; `diagonal` draws y = x. */
export function lineChart(o: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  diagonal?: boolean;
  legend?: LegendPlace;
}): string {
  const body: string[] = [];
  if (o.diagonal)
    body.push(`<line x1="0" y1="${PH}" x2="${PW}" y2="0" stroke="${COLORS.reference}" stroke-dasharray="4 4"/>`);
  for (const s of o.series) {
    const pts = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y]) => `${r3(x * PW)},${r3(PH - y * PH)}`);
    if (pts.length > 0)
      body.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(' ')}">` +
          `<title>${esc(s.name)}</title></polyline>`,
      );
    if (s.dots)
      for (const p of pts)
        body.push(`<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="3" fill="${s.color}"/>`);
  }
  return frame(o.title, o.xLabel, o.yLabel, unitTicks, unitTicks, body.join('\n'), o.series, o.legend);
}

/** Overlaid histograms over equal-width bins on [0, 1], as shares of each series' total. */
export function histogramChart(o: {
  title: string;
  xLabel: string;
  series: { name: string; color: string; counts: number[] }[];
}): string {
  const shares = o.series.map((s) => {
    const total = s.counts.reduce((a, b) => a + b, 0);
    return s.counts.map((c) => (total > 0 ? c / total : 0));
  });
  const top = Math.max(1e-9, ...shares.flat());
  const yMax = niceCeil(top);
  const body: string[] = [];
  o.series.forEach((s, k) => {
    const bins = s.counts.length;
    const pts: string[] = [`0,${PH}`];
    shares[k]!.forEach((v, i) => {
      const y = r3(PH - (v / yMax) * PH);
      pts.push(`${r3((i / bins) * PW)},${y}`, `${r3(((i + 1) / bins) * PW)},${y}`);
    });
    pts.push(`${PW},${PH}`);
    body.push(
      `<polyline fill="${s.color}" fill-opacity="0.18" stroke="${s.color}" stroke-width="1.5" ` +
        `points="${pts.join(' ')}"><title>${esc(s.name)}</title></polyline>`,
    );
  });
  const yTicks = [0, 0.2, 0.4, 0.6, 0.8, 1].map((f) => ({ v: f, label: `${Number((f * yMax * 100).toFixed(2))}%` }));
  return frame(o.title, o.xLabel, 'share of rows', unitTicks, yTicks, body.join('\n'), o.series);
}

function niceCeil(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x * (1 - 1e-12)) return m * p;
  return 10 * p;
}
