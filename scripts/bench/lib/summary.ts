/** The one-line summary of a benchmark, as the runner lists it. */

/** The first paragraph of the source's first doc comment, its lines joined by spaces. */
export function summaryOf(source: string): string {
  const start = source.indexOf('/**');
  if (start < 0) return '';
  const end = source.indexOf('*/', start + 3);
  const lines = source
    .slice(start + 3, end < 0 ? undefined : end)
    .split('\n')
    .map((l) => l.replace(/^\s*\*?/, '').trim());
  const first = lines.findIndex((l) => l !== '');
  if (first < 0) return '';
  const rest = lines.slice(first);
  const blank = rest.indexOf('');
  return (blank < 0 ? rest : rest.slice(0, blank)).join(' ');
}
