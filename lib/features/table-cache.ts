/**
 * A per-worker cache of decoded input partitions, keyed by S3 key and ETag (an object that
 * changed is a different entry), bounded by bytes. Consecutive day partitions share most of
 * their lookback, so a worker decodes each input day once instead of once per window.
 */
import type { Table } from 'apache-arrow';

export class TableCache {
  private entries = new Map<string, { table: Table; bytes: number }>();
  private total = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly maxBytes: number) {}

  async get(key: string, etag: string, load: () => Promise<{ table: Table; bytes: number }>): Promise<Table> {
    const k = `${key}\u0000${etag}`;
    const e = this.entries.get(k);
    if (e) {
      this.hits++;
      this.entries.delete(k); // move to the most-recent end
      this.entries.set(k, e);
      return e.table;
    }
    this.misses++;
    const loaded = await load();
    this.entries.set(k, loaded);
    this.total += loaded.bytes;
    for (const [oldKey, old] of this.entries) {
      if (this.total <= this.maxBytes || this.entries.size <= 1) break;
      this.entries.delete(oldKey);
      this.total -= old.bytes;
    }
    return loaded.table;
  }
}
