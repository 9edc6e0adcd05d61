/**
 * Where the extension keeps its state (configuration with the device token,
 * client id, session, status): IndexedDB of the extension's own origin.
 *
 * Why not chrome.storage.local: in Manifest V3 content scripts can read
 * chrome.storage.local (and .sync), and a content script runs inside the web
 * page's renderer, so a page that compromises its renderer could read the
 * token. chrome.storage.session is limited to trusted contexts, but it is
 * cleared when the browser restarts. The extension origin's IndexedDB survives
 * restarts and is reachable only from the extension's own pages and worker: a
 * content script's `indexedDB` is the web page's. State a previous version left
 * in chrome.storage.local is moved here once, then removed from there.
 */
import { done, openDb, req } from "./idb";
import type { KV } from "./store";

const STORE = "kv";

/** A KV over one IndexedDB object store (out-of-line keys). */
export class IdbKV implements KV {
  private constructor(private readonly db: IDBDatabase) {}

  /** Open (or create) the state database `name`. */
  static async open(factory: IDBFactory, name = "mindhit-state"): Promise<IdbKV> {
    const db = await openDb(factory, name, 1, (d) => {
      if (!d.objectStoreNames.contains(STORE)) d.createObjectStore(STORE);
    });
    return new IdbKV(db);
  }

  async get(keys: string[]): Promise<Record<string, unknown>> {
    const tx = this.db.transaction(STORE, "readonly");
    const store = tx.objectStore(STORE);
    const values = await Promise.all(keys.map((k) => req(store.get(k))));
    const out: Record<string, unknown> = {};
    keys.forEach((k, i) => {
      if (values[i] !== undefined) out[k] = values[i];
    });
    return out;
  }

  async set(items: Record<string, unknown>): Promise<void> {
    const tx = this.db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    for (const [k, v] of Object.entries(items)) store.put(v, k);
    await done(tx);
  }
}

/** The legacy area: chrome.storage.local, where versions before 0.2 kept their state. */
export interface LegacyArea {
  get(keys: null): Promise<Record<string, unknown>>;
  clear(): Promise<void>;
}

/** Keys the Store writes (and a previous version kept in chrome.storage.local). */
export const STATE_KEYS = ["config", "clientId", "remote", "session", "pausedUntil", "status", "pairing"];

/**
 * Move state left in `legacy` into `kv` (keys `kv` already has win), then clear `legacy`.
 *
 * @returns the keys moved.
 */
export async function migrateLegacy(legacy: LegacyArea, kv: KV): Promise<string[]> {
  const old = await legacy.get(null);
  const names = Object.keys(old).filter((k) => STATE_KEYS.includes(k));
  if (Object.keys(old).length === 0) return [];
  const present = await kv.get(names);
  const moved = names.filter((k) => !(k in present));
  if (moved.length) await kv.set(Object.fromEntries(moved.map((k) => [k, old[k]])));
  await legacy.clear();
  return moved;
}

/** A KV that waits for `ready` (the database opened, legacy state moved) before each call. */
export function deferredKV(ready: Promise<KV>): KV {
  return {
    get: async (keys) => (await ready).get(keys),
    set: async (items) => (await ready).set(items),
  };
}
