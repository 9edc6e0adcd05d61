/**
 * The durable local event queue (IndexedDB): the only place events live between
 * the moment a transition happens and the gateway's acknowledgement.
 *
 * Guarantees:
 * - `seq` is assigned in the same transaction that stores the event, from a
 *   counter persisted beside it, so it is strictly increasing per install even
 *   across service-worker restarts.
 * - A batch in flight is moved out of the queue into one persisted "inflight"
 *   record with its `batch_id`; after a restart the very same batch (same id,
 *   same events) is sent again, so the gateway can dedupe it: nothing is lost
 *   and nothing is stored twice.
 * - The queue is bounded by event count and bytes; when short of space it first
 *   strips page text, then drops page-content events, and only then the oldest
 *   transitions. Every drop is counted.
 * - Every event belongs to the account it was queued for (`account`, see
 *   `queueOwner` in pairing.ts; "" when recorded before any pairing): a batch for
 *   one account never takes another's events, and paired with another account
 *   the queue deletes what it holds for the previous one (`switchAccount`).
 */
import type { ClientEvent } from "../generated/contract";
import { type EventDraft, isContent, sizeOf } from "./events";
import { done, openDb, req, walk } from "./idb";

/** Bounds of the local queue. */
export interface QueueLimits {
  /** At most this many queued events (default 100,000). */
  maxEvents: number;
  /** At most this many serialized bytes (default 256 MiB). */
  maxBytes: number;
}

export const DEFAULT_LIMITS: QueueLimits = { maxEvents: 100_000, maxBytes: 256 * 1024 * 1024 };

/** Counters persisted with the queue. */
export interface QueueState {
  nextSeq: number;
  count: number;
  bytes: number;
  droppedEvents: number;
  droppedTexts: number;
}

/** The one batch being uploaded (persisted, so a restart resends it unchanged). */
export interface InFlight {
  batch_id: string;
  events: ClientEvent[];
  attempt: number;
  notBefore: number;
  /** The account the batch is for (absent: made by a version before accounts). */
  account?: string;
}

interface Row {
  seq: number;
  kind: "content" | "transition";
  bytes: number;
  event: ClientEvent;
  /** The account it was queued for; "" or absent: recorded before any pairing (or by a version before accounts). */
  account?: string;
}

/** Whether something queued for `owner` may go to `account`: its own, or nobody's yet. */
const mayGo = (owner: string | undefined, account: string): boolean => !owner || owner === account;

const EVENTS = "events";
const META = "meta";
const STATE_KEY = "state";
const INFLIGHT_KEY = "inflight";

const FRESH: QueueState = { nextSeq: 1, count: 0, bytes: 0, droppedEvents: 0, droppedTexts: 0 };

function rowOf(event: ClientEvent, account: string | undefined): Row {
  return { seq: event.seq, kind: isContent(event) ? "content" : "transition", bytes: sizeOf(event), event, account };
}

/** IndexedDB-backed, bounded, ordered event queue with one persisted in-flight batch. */
export class EventQueue {
  private constructor(
    private readonly db: IDBDatabase,
    private readonly limits: QueueLimits,
  ) {}

  /** Open (or create) the queue database `name`. */
  static async open(
    factory: IDBFactory,
    name = "mindhit-queue",
    limits: QueueLimits = DEFAULT_LIMITS,
  ): Promise<EventQueue> {
    const db = await openDb(factory, name, 1, (d) => {
      const events = d.createObjectStore(EVENTS, { keyPath: "seq" });
      events.createIndex("kind", "kind");
      d.createObjectStore(META);
    });
    return new EventQueue(db, limits);
  }

  /** Close the database (tests; a service worker just stops). */
  close(): void {
    this.db.close();
  }

  /**
   * Store drafts in order, each with the next `seq`.
   *
   * Steps, in one read-write transaction: read the counters; give each draft
   * the next seq and store it; enforce the bounds (strip text, drop content,
   * drop oldest transitions); write the counters. Either all of it commits or
   * nothing does.
   *
   * @param account - the account they are queued for ("" before any pairing).
   * @returns the stored events with their seq.
   */
  async append(drafts: readonly EventDraft[], account = ""): Promise<ClientEvent[]> {
    const tx = this.db.transaction([EVENTS, META], "readwrite");
    const committed = done(tx);
    const events = tx.objectStore(EVENTS);
    const meta = tx.objectStore(META);
    const state = { ...FRESH, ...((await req(meta.get(STATE_KEY))) as QueueState | undefined) };
    const stored: ClientEvent[] = [];
    for (const d of drafts) {
      const event: ClientEvent = { ...d, seq: state.nextSeq };
      state.nextSeq += 1;
      const row = rowOf(event, account);
      events.put(row);
      state.count += 1;
      state.bytes += row.bytes;
      stored.push(event);
    }
    await this.enforce(events, state);
    meta.put(state, STATE_KEY);
    await committed;
    return stored;
  }

  private async enforce(events: IDBObjectStore, state: QueueState): Promise<void> {
    const { maxEvents, maxBytes } = this.limits;
    if (state.bytes > maxBytes) {
      // 1. strip page text, oldest first
      await walk(events.index("kind"), IDBKeyRange.only("content"), (c) => {
        const row = c.value as Row;
        const ev = row.event as ClientEvent & { text?: string };
        if (ev.text) {
          const stripped = { ...ev, text: "" } as ClientEvent;
          const bytes = sizeOf(stripped);
          state.bytes -= row.bytes - bytes;
          state.droppedTexts += 1;
          c.update({ ...row, bytes, event: stripped });
        }
        return state.bytes > maxBytes;
      });
    }
    const over = () => state.count > maxEvents || state.bytes > maxBytes;
    const evict = (c: IDBCursorWithValue): boolean => {
      const row = c.value as Row;
      c.delete();
      state.count -= 1;
      state.bytes -= row.bytes;
      state.droppedEvents += 1;
      return over();
    };
    // 2. drop page-content events, oldest first; 3. then the oldest transitions
    if (over()) await walk(events.index("kind"), IDBKeyRange.only("content"), evict);
    if (over()) await walk(events, null, evict);
  }

  /** Counters plus the size of the batch in flight. */
  async stats(): Promise<QueueState & { inflight: number }> {
    const tx = this.db.transaction([META], "readonly");
    const meta = tx.objectStore(META);
    const state = (await req(meta.get(STATE_KEY))) as QueueState | undefined;
    const inflight = (await req(meta.get(INFLIGHT_KEY))) as InFlight | undefined;
    return { ...FRESH, ...state, inflight: inflight?.events.length ?? 0 };
  }

  /** The batch in flight, if any. */
  async inflight(): Promise<InFlight | null> {
    const tx = this.db.transaction([META], "readonly");
    return ((await req(tx.objectStore(META).get(INFLIGHT_KEY))) as InFlight | undefined) ?? null;
  }

  /**
   * The batch to send to `account`: the one already in flight, else a new one.
   *
   * Steps, in one transaction: if a batch for `account` is in flight return it
   * unchanged (one for another account is dropped, counted); otherwise take the
   * oldest events that may go to `account` (its own, or queued before any
   * pairing; at most `maxEvents`, and `maxBytes` unless a single event is
   * larger), delete them from the queue, persist them as the in-flight batch
   * under `batchId`, update the counters.
   */
  async takeBatch(maxEvents: number, maxBytes: number, batchId: string, account = ""): Promise<InFlight | null> {
    const tx = this.db.transaction([EVENTS, META], "readwrite");
    const committed = done(tx);
    const meta = tx.objectStore(META);
    const existing = (await req(meta.get(INFLIGHT_KEY))) as InFlight | undefined;
    const state = { ...FRESH, ...((await req(meta.get(STATE_KEY))) as QueueState | undefined) };
    if (existing && mayGo(existing.account, account)) {
      await committed;
      return existing;
    }
    if (existing) {
      meta.delete(INFLIGHT_KEY);
      state.droppedEvents += existing.events.length;
      meta.put(state, STATE_KEY);
    }
    const taken: ClientEvent[] = [];
    let bytes = 0;
    await walk(tx.objectStore(EVENTS), null, (c) => {
      const row = c.value as Row;
      if (!mayGo(row.account, account)) return true; // another account's: never in this batch
      if (taken.length > 0 && bytes + row.bytes > maxBytes) return false;
      taken.push(row.event);
      bytes += row.bytes;
      c.delete();
      state.count -= 1;
      state.bytes -= row.bytes;
      return taken.length < maxEvents;
    });
    if (taken.length === 0) {
      await committed;
      return null;
    }
    const batch: InFlight = { batch_id: batchId, events: taken, attempt: 0, notBefore: 0, account };
    meta.put(batch, INFLIGHT_KEY);
    meta.put(state, STATE_KEY);
    await committed;
    return batch;
  }

  /** The gateway stored batch `batchId`: forget it. */
  async ack(batchId: string): Promise<void> {
    await this.updateInflight(batchId, () => null);
  }

  /** Remember a failed attempt and when the next one may happen. */
  async defer(batchId: string, attempt: number, notBefore: number): Promise<void> {
    await this.updateInflight(batchId, (b) => ({ ...b, attempt, notBefore }));
  }

  /**
   * The gateway said the batch is too large (413): keep the first half in
   * flight under `newBatchId` and put the rest back at the head of the queue
   * (same seqs, so order is kept). A single event that is too large loses its
   * page text, or is dropped when it has none.
   *
   * @returns the new in-flight batch, or null when the event was dropped.
   */
  async split(batchId: string, newBatchId: string): Promise<InFlight | null> {
    const tx = this.db.transaction([EVENTS, META], "readwrite");
    const committed = done(tx);
    const meta = tx.objectStore(META);
    const batch = (await req(meta.get(INFLIGHT_KEY))) as InFlight | undefined;
    if (!batch || batch.batch_id !== batchId) {
      await committed;
      return batch ?? null;
    }
    const state = { ...FRESH, ...((await req(meta.get(STATE_KEY))) as QueueState | undefined) };
    let next: InFlight | null;
    if (batch.events.length > 1) {
      const half = Math.ceil(batch.events.length / 2);
      for (const ev of batch.events.slice(half)) {
        const row = rowOf(ev, batch.account);
        tx.objectStore(EVENTS).put(row);
        state.count += 1;
        state.bytes += row.bytes;
      }
      next = { ...batch, batch_id: newBatchId, events: batch.events.slice(0, half), attempt: 0, notBefore: 0 };
    } else {
      const only = batch.events[0] as ClientEvent & { text?: string };
      if (only?.type === "page.content" && only.text) {
        state.droppedTexts += 1;
        next = { ...batch, batch_id: newBatchId, events: [{ ...only, text: "" }], attempt: 0, notBefore: 0 };
      } else {
        state.droppedEvents += 1;
        next = null;
      }
    }
    if (next) meta.put(next, INFLIGHT_KEY);
    else meta.delete(INFLIGHT_KEY);
    meta.put(state, STATE_KEY);
    await committed;
    return next;
  }

  /**
   * Paired with `account`: delete what is queued (or in flight) for another account,
   * and make what was queued before any pairing this account's. One transaction.
   *
   * @returns how many events of another account were deleted (also counted as dropped).
   */
  async switchAccount(account: string): Promise<number> {
    const tx = this.db.transaction([EVENTS, META], "readwrite");
    const committed = done(tx);
    const meta = tx.objectStore(META);
    const state = { ...FRESH, ...((await req(meta.get(STATE_KEY))) as QueueState | undefined) };
    const inflight = (await req(meta.get(INFLIGHT_KEY))) as InFlight | undefined;
    let deleted = 0;
    if (inflight && !mayGo(inflight.account, account)) {
      meta.delete(INFLIGHT_KEY);
      deleted += inflight.events.length;
    } else if (inflight && !inflight.account) {
      meta.put({ ...inflight, account }, INFLIGHT_KEY);
    }
    await walk(tx.objectStore(EVENTS), null, (c) => {
      const row = c.value as Row;
      if (!mayGo(row.account, account)) {
        c.delete();
        state.count -= 1;
        state.bytes -= row.bytes;
        deleted += 1;
      } else if (!row.account) {
        c.update({ ...row, account });
      }
      return true;
    });
    state.droppedEvents += deleted;
    meta.put(state, STATE_KEY);
    await committed;
    return deleted;
  }

  /**
   * Rewrite what waits after `sent`, the batch just acknowledged: `change` gets the
   * queued events in order and returns the queue's new contents (null: no change),
   * numbered from the seq after the batch's last (those were never sent). One
   * transaction; `change` must not await. Events that keep their id keep the account
   * they were queued for; new ones are `account`'s.
   *
   * @returns the queue's new contents with their seqs, or null when unchanged.
   */
  async rewrite(
    sent: readonly ClientEvent[],
    account: string,
    change: (queued: ClientEvent[]) => EventDraft[] | null,
  ): Promise<ClientEvent[] | null> {
    const tx = this.db.transaction([EVENTS, META], "readwrite");
    const committed = done(tx);
    const events = tx.objectStore(EVENTS);
    const meta = tx.objectStore(META);
    const state = { ...FRESH, ...((await req(meta.get(STATE_KEY))) as QueueState | undefined) };
    const last = sent.reduce((max, e) => Math.max(max, e.seq), 0);
    const rows: Row[] = [];
    await walk(events, IDBKeyRange.lowerBound(last, true), (c) => rows.push(c.value as Row) > 0);
    const drafts = change(rows.map((r) => r.event));
    if (drafts === null) {
      await committed;
      return null;
    }
    const owners = new Map(rows.map((r) => [r.event.event_id, r.account]));
    for (const r of rows) {
      events.delete(r.seq);
      state.count -= 1;
      state.bytes -= r.bytes;
    }
    const base = last > 0 ? last + 1 : (rows[0]?.seq ?? state.nextSeq);
    const stored = drafts.map((d, i) => ({ ...d, seq: base + i }));
    for (const event of stored) {
      const row = rowOf(event, owners.has(event.event_id) ? owners.get(event.event_id) : account);
      events.put(row);
      state.count += 1;
      state.bytes += row.bytes;
    }
    state.nextSeq = Math.max(state.nextSeq, base + stored.length);
    await this.enforce(events, state);
    meta.put(state, STATE_KEY);
    await committed;
    return stored;
  }

  /** Drop the batch in flight without sending it (the gateway refused it as a whole). */
  async discard(batchId: string): Promise<void> {
    await this.updateInflight(batchId, () => null, true);
  }

  private async updateInflight(
    batchId: string,
    change: (b: InFlight) => InFlight | null,
    countDropped = false,
  ): Promise<void> {
    const tx = this.db.transaction([META], "readwrite");
    const committed = done(tx);
    const meta = tx.objectStore(META);
    const batch = (await req(meta.get(INFLIGHT_KEY))) as InFlight | undefined;
    if (batch && batch.batch_id === batchId) {
      const next = change(batch);
      if (next) meta.put(next, INFLIGHT_KEY);
      else meta.delete(INFLIGHT_KEY);
      if (countDropped) {
        const state = { ...FRESH, ...((await req(meta.get(STATE_KEY))) as QueueState | undefined) };
        state.droppedEvents += batch.events.length;
        meta.put(state, STATE_KEY);
      }
    }
    await committed;
  }
}
