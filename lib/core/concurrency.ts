/**
 * Bounded fan-out for workflow code (partitions of a backfill, trials of a sweep). Pure: no
 * Node built-ins, no timers of its own, so it is safe inside the deterministic sandbox.
 */

/**
 * Runs `work` on every item with at most `limit` calls in flight. Items start in list order:
 * the first `limit` at once, then the next one each time a call finishes. In a workflow each
 * call schedules an activity, so that order is part of the history that replays must match.
 *
 * Each result is appended to `into` as soon as its call finishes (a query may read `into`
 * meanwhile), so results are in the order the calls finished; `into` is returned. A `limit`
 * below 1 starts nothing. The first failure rejects at once; the other lanes go on with the
 * remaining items.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
  into: R[] = [],
): Promise<R[]> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      const result = await work(item);
      into.push(result);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return into;
}
