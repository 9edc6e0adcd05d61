/**
 * What must survive the service worker being stopped, in the extension origin's
 * IndexedDB: the state (config with the device token, session, status; see
 * lib/kv.ts for why not chrome.storage, which content scripts can read) and the
 * event queue (seq, in-flight batch). Opened once, when the worker starts.
 */
import { IdbKV, deferredKV, migrateLegacy } from "../lib/kv";
import { EventQueue } from "../lib/queue";
import { Store } from "../lib/store";

export function log(msg: string, data?: unknown): void {
  console.info(`[mindhit] ${msg}`, data ?? "");
}

const stateReady = IdbKV.open(indexedDB).then(async (kv) => {
  const moved = await migrateLegacy(chrome.storage.local, kv);
  if (moved.length) log("state moved out of chrome.storage.local", moved);
  return kv;
});

/** Config, session and status. */
export const store = new Store(deferredKV(stateReady));

/** The queue of events waiting for upload. */
export const queueReady = EventQueue.open(indexedDB);
