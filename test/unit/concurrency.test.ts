import { describe, expect, it } from 'vitest';
import { mapBounded } from '../../lib/core/concurrency';

/** Work whose calls finish when the test says so; `log` records every start and finish in order. */
function controlledWork() {
  const log: string[] = [];
  const pending = new Map<string, { resolve: (v: string) => void; reject: (e: Error) => void }>();
  const work = (item: string) => {
    log.push(`start ${item}`);
    return new Promise<string>((resolve, reject) => pending.set(item, { resolve, reject }));
  };
  /** Finishes the given calls in this order, in one go (as jobs of one workflow activation). */
  const finish = async (...items: string[]) => {
    for (const item of items) {
      log.push(`finish ${item}`);
      pending.get(item)?.resolve(item.toUpperCase());
      pending.delete(item);
    }
    await new Promise((r) => setTimeout(r, 0));
  };
  const fail = async (item: string) => {
    pending.get(item)?.reject(new Error(`${item} failed`));
    pending.delete(item);
    await new Promise((r) => setTimeout(r, 0));
  };
  return { log, work, finish, fail, inFlight: () => [...pending.keys()] };
}

describe('mapBounded', () => {
  it('starts the first `limit` items at once, then the next item each time a call finishes', async () => {
    const w = controlledWork();
    const done = mapBounded(['a', 'b', 'c', 'd', 'e'], 2, w.work);
    expect(w.log).toEqual(['start a', 'start b']); // synchronously, before the first await
    await w.finish('b');
    expect(w.inFlight()).toEqual(['a', 'c']);
    await w.finish('a', 'c'); // two at once: the next items start in the order the calls finished
    expect(w.inFlight()).toEqual(['d', 'e']);
    await w.finish('e', 'd');
    await expect(done).resolves.toEqual(['B', 'A', 'C', 'E', 'D']); // in the order they finished
    expect(w.log).toEqual([
      'start a',
      'start b',
      'finish b',
      'start c',
      'finish a',
      'finish c',
      'start d',
      'start e',
      'finish e',
      'finish d',
    ]);
  });

  it('appends each result to `into` as it finishes, after what it already holds', async () => {
    const w = controlledWork();
    const into = ['carried'];
    const done = mapBounded(['a', 'b'], 2, w.work, into);
    await w.finish('b');
    expect(into).toEqual(['carried', 'B']);
    await w.finish('a');
    expect(await done).toBe(into);
    expect(into).toEqual(['carried', 'B', 'A']);
  });

  it('starts every item at once when the limit exceeds them', async () => {
    const w = controlledWork();
    const done = mapBounded(['a', 'b', 'c'], 8, w.work);
    expect(w.inFlight()).toEqual(['a', 'b', 'c']);
    await w.finish('c', 'b', 'a');
    expect(await done).toEqual(['C', 'B', 'A']);
  });

  it('a limit of one runs the items one after another, in order', async () => {
    const w = controlledWork();
    const done = mapBounded(['a', 'b', 'c'], 1, w.work);
    for (const item of ['a', 'b', 'c']) {
      expect(w.inFlight()).toEqual([item]);
      await w.finish(item);
    }
    expect(await done).toEqual(['A', 'B', 'C']);
  });

  it('no items, or a limit below one, start nothing', async () => {
    const w = controlledWork();
    expect(await mapBounded([], 4, w.work)).toEqual([]);
    expect(await mapBounded(['a'], 0, w.work)).toEqual([]);
    expect(w.log).toEqual([]);
  });

  it('the first failure rejects at once; the other lanes go on with the remaining items', async () => {
    const w = controlledWork();
    const done = mapBounded(['a', 'b', 'c', 'd'], 2, w.work);
    const outcome = done.then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    await w.fail('a');
    expect(await outcome).toBe('a failed');
    expect(w.inFlight()).toEqual(['b']);
    await w.finish('b');
    expect(w.log).toEqual(['start a', 'start b', 'finish b', 'start c']);
  });
});
