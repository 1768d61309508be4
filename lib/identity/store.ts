/**
 * Storage of the dev OIDC provider (its oidc-provider "adapter").
 *
 * DEV ONLY. Everything lives in this process's memory. Sessions, grants and refresh tokens are
 * also written to `<state dir>/store.json` (mode 0600) after each change, so a signed-in browser and
 * `mlo login`'s refresh token survive a restart of the provider; codes, interactions and the like
 * do not (a restart in the middle of a sign-in means starting it again). Linear scans and at most
 * 20,000 entries (the oldest go first): fine for a handful of users, not for production, where an
 * OpenID Connect provider of record keeps this state.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { writePrivateFile } from './keys';

export const STORE_FILE = 'store.json';
/** Models written to disk; the rest are short-lived and kept in memory only. */
const PERSISTED = new Set(['Session', 'Grant', 'RefreshToken']);
/** Past this many entries the oldest are dropped (each dev sign-in leaves a session and a grant). */
const MAX_ENTRIES = 20_000;

type Entry = { model: string; id: string; payload: AdapterPayload; expiresAt?: number };

export class DevStore {
  private readonly entries = new Map<string, Entry>();
  private saveTimer: NodeJS.Timeout | undefined;
  private readonly file: string | undefined;

  /** With a state directory, persisted models are loaded from and saved to `<dir>/store.json`. */
  constructor(stateDir?: string) {
    this.file = stateDir ? path.join(stateDir, STORE_FILE) : undefined;
    if (this.file && fs.existsSync(this.file)) this.load(this.file);
  }

  /** The oidc-provider adapter factory over this store. */
  readonly adapter = (model: string): Adapter => new StoreAdapter(this, model);

  get(model: string, id: string): AdapterPayload | undefined {
    const e = this.entries.get(key(model, id));
    if (!e) return undefined;
    if (e.expiresAt !== undefined && e.expiresAt <= Date.now()) {
      this.delete(model, id);
      return undefined;
    }
    return structuredClone(e.payload);
  }

  set(model: string, id: string, payload: AdapterPayload, expiresInSeconds?: number): void {
    const expiresAt = expiresInSeconds === undefined ? undefined : Date.now() + expiresInSeconds * 1000;
    const k = key(model, id);
    this.entries.delete(k); // re-insert: the Map's order is the age order
    this.entries.set(k, { model, id, payload: structuredClone(payload), expiresAt });
    for (const old of this.entries.keys()) {
      if (this.entries.size <= MAX_ENTRIES) break;
      this.entries.delete(old);
    }
    this.changed(model);
  }

  /** Marks an entry consumed (`consumed` = now in epoch seconds), keeping its expiry. */
  consume(model: string, id: string): void {
    const e = this.entries.get(key(model, id));
    if (!e) return;
    e.payload = { ...e.payload, consumed: Math.floor(Date.now() / 1000) };
    this.changed(model);
  }

  delete(model: string, id: string): void {
    if (this.entries.delete(key(model, id))) this.changed(model);
  }

  /** The id of the live entry of `model` whose payload field `field` equals `value`. */
  findIdBy(model: string, field: 'uid' | 'userCode', value: string): string | undefined {
    for (const e of this.entries.values()) if (e.model === model && e.payload[field] === value) return e.id;
    return undefined;
  }

  /** Deletes every entry (of any model) that belongs to a grant. */
  deleteByGrantId(grantId: string): void {
    for (const [k, e] of this.entries) {
      if (e.payload.grantId === grantId) {
        this.entries.delete(k);
        this.changed(e.model);
      }
    }
  }

  /** Writes pending changes now (call before exit). */
  flush(): void {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (!this.file) return;
    const now = Date.now();
    const keep = [...this.entries.values()].filter(
      (e) => PERSISTED.has(e.model) && (e.expiresAt === undefined || e.expiresAt > now),
    );
    writePrivateFile(this.file, JSON.stringify({ version: 1, entries: keep }));
  }

  private changed(model: string): void {
    if (!this.file || !PERSISTED.has(model) || this.saveTimer) return;
    this.saveTimer = setTimeout(() => this.flush(), 200);
    this.saveTimer.unref();
  }

  private load(file: string): void {
    try {
      const data = JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: number; entries?: Entry[] };
      const now = Date.now();
      for (const e of data.entries ?? []) {
        if (typeof e.model !== 'string' || typeof e.id !== 'string' || typeof e.payload !== 'object') continue;
        if (e.expiresAt !== undefined && e.expiresAt <= now) continue;
        this.entries.set(key(e.model, e.id), e);
      }
    } catch {
      // A damaged store only costs sign-ins: start empty, the next save replaces it.
    }
  }
}

function key(model: string, id: string): string {
  return `${model}:${id}`;
}

class StoreAdapter implements Adapter {
  constructor(
    private readonly store: DevStore,
    private readonly model: string,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    this.store.set(this.model, id, payload, expiresIn);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.store.get(this.model, id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = this.store.findIdBy(this.model, 'userCode', userCode);
    return id === undefined ? undefined : this.store.get(this.model, id);
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = this.store.findIdBy(this.model, 'uid', uid);
    return id === undefined ? undefined : this.store.get(this.model, id);
  }

  async consume(id: string): Promise<void> {
    this.store.consume(this.model, id);
  }

  async destroy(id: string): Promise<void> {
    this.store.delete(this.model, id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    this.store.deleteByGrantId(grantId);
  }
}
