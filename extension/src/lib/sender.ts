/**
 * The uploader: sends the queue to `POST {gateway}/v1/events`, one batch in
 * flight, in order, and decides what each answer means.
 *
 * - 2xx: the batch is stored (or was, for a `duplicate` retry); events the
 *   gateway rejected as invalid are logged and dropped, the rest are done; sessions
 *   it says the server stopped (`stops`; `stopped` from an earlier gateway) are handed
 *   to `onStopped` with the batch (the recorder ends them, or records again in a new
 *   session what the server did not count after an idle close).
 * - 401/403: stop; the popup asks the user to sign in again. The queue is kept
 *   for that account: a batch only ever takes events queued for the account of
 *   the token it is sent with (or before any pairing), see queue.ts.
 * - 413: split the batch and send the halves.
 * - network error, 429, 5xx, anything else: exponential backoff with jitter,
 *   never sooner than Retry-After; the attempt count and the next attempt time
 *   are persisted with the batch, so a restarted worker keeps waiting.
 * - 400/422: the batch as a whole is malformed; it is dropped and the error shown.
 */
import type { BatchResult, ClientEvent, EventBatch, SessionStop } from "../generated/contract";
import { LIMITS } from "../generated/meta";
import { type BackoffPolicy, DEFAULT_BACKOFF, classifyStatus, parseRetryAfter, retryDelay } from "./backoff";
import type { EventQueue, InFlight } from "./queue";
import type { Store } from "./store";

/** The subset of `fetch` the uploader needs. */
export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/** What a pump ended with; `waitMs` says when to try again. */
export type PumpResult =
  | { kind: "empty" }
  | { kind: "signed-out" }
  | { kind: "auth" }
  | { kind: "wait"; waitMs: number };

export interface UploaderDeps {
  queue: EventQueue;
  store: Store;
  fetch: Fetch;
  now: () => number;
  random: () => number;
  newId: () => string;
  log: (msg: string, data?: unknown) => void;
  /** Sessions the gateway says the server stopped, with the batch that learned it and its account. */
  onStopped?: (stops: SessionStop[], sent: ClientEvent[], account: string) => Promise<unknown>;
  batchEvents?: number;
  batchBytes?: number;
  policy?: BackoffPolicy;
}

/** Sends queued events, one batch at a time; `pump` is safe to call from anywhere. */
export class Uploader {
  private running: Promise<PumpResult> | null = null;
  private readonly batchEvents: number;
  private readonly batchBytes: number;
  private readonly policy: BackoffPolicy;

  constructor(private readonly d: UploaderDeps) {
    this.batchEvents = Math.min(d.batchEvents ?? 200, LIMITS.batchMax);
    this.batchBytes = d.batchBytes ?? 1024 * 1024;
    this.policy = d.policy ?? DEFAULT_BACKOFF;
  }

  /** Upload everything queued; concurrent calls share one run (one batch in flight). */
  pump(): Promise<PumpResult> {
    if (!this.running) {
      this.running = this.run().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  private async run(): Promise<PumpResult> {
    for (;;) {
      const config = await this.d.store.config();
      if (!config.token || !config.gatewayUrl) return { kind: "signed-out" };
      if ((await this.d.store.status()).authError) return { kind: "auth" };
      const batch = await this.d.queue.takeBatch(this.batchEvents, this.batchBytes, this.d.newId(), config.account);
      if (!batch) return { kind: "empty" };
      const wait = batch.notBefore - this.d.now();
      if (wait > 0) return { kind: "wait", waitMs: wait };
      const result = await this.send(batch, config.gatewayUrl, config.token);
      if (result) return result;
    }
  }

  /** Send one batch and apply the answer; returns a result when the pump must stop. */
  private async send(batch: InFlight, gatewayUrl: string, token: string): Promise<PumpResult | null> {
    const body: EventBatch = {
      batch_id: batch.batch_id,
      client_id: batch.events[0]?.client_id ?? "",
      events: batch.events,
    };
    let status = 0;
    let retryAfter: string | null = null;
    let text: string;
    try {
      const res = await this.d.fetch(`${gatewayUrl.replace(/\/+$/, "")}/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      status = res.status;
      retryAfter = res.headers.get("retry-after");
      text = await res.text();
    } catch (err) {
      text = String(err);
    }
    const now = this.d.now();
    switch (classifyStatus(status)) {
      case "ack":
        await this.acknowledge(batch, text, now);
        return null;
      case "auth":
        this.d.log("token refused; sign in again", { status });
        await this.d.store.updateStatus({
          authError: true,
          lastError: `sign in again (the gateway answered ${status})`,
          lastErrorAt: now,
          nextRetryAt: null,
        });
        return { kind: "auth" };
      case "split":
        this.d.log("batch too large, splitting", { batch_id: batch.batch_id, events: batch.events.length });
        await this.d.queue.split(batch.batch_id, this.d.newId());
        return null;
      case "poison":
        this.d.log("batch refused as malformed, dropped", { batch_id: batch.batch_id, status, body: text });
        await this.d.queue.discard(batch.batch_id);
        await this.d.store.updateStatus({
          lastError: `gateway refused a batch (${status}): ${text.slice(0, 200)}`,
          lastErrorAt: now,
        });
        return null;
      case "retry": {
        const attempt = batch.attempt + 1;
        const delay = retryDelay(attempt, parseRetryAfter(retryAfter, now), this.d.random(), this.policy);
        await this.d.queue.defer(batch.batch_id, attempt, now + delay);
        await this.d.store.updateStatus({
          lastError: status === 0 ? `gateway unreachable: ${text.slice(0, 200)}` : `gateway answered ${status}`,
          lastErrorAt: now,
          nextRetryAt: now + delay,
        });
        return { kind: "wait", waitMs: delay };
      }
    }
  }

  private async acknowledge(batch: InFlight, text: string, now: number): Promise<void> {
    let result: Partial<BatchResult> = {};
    try {
      result = JSON.parse(text) as BatchResult;
    } catch {
      this.d.log("unparsable 2xx answer; the batch counts as stored", { batch_id: batch.batch_id });
    }
    if (result.duplicate) {
      this.d.log("batch was already stored (a retry after a lost answer)", { batch_id: batch.batch_id });
    }
    const rejected = result.rejected ?? [];
    for (const r of rejected) {
      const ev = batch.events[r.index];
      this.d.log("event rejected by the gateway, dropped", { ...r, seq: ev?.seq, type: ev?.type });
    }
    await this.d.queue.ack(batch.batch_id);
    const stops = result.stops ?? (result.stopped ?? []).map((id): SessionStop => ({ session_id: id, reason: "user", stopped_at: 0 }));
    if (stops.length) await this.d.onStopped?.(stops, batch.events, batch.account ?? "");
    const status = await this.d.store.status();
    await this.d.store.updateStatus({
      lastUploadAt: now,
      lastError: rejected.length ? `${rejected.length} event(s) rejected as invalid` : "",
      lastErrorAt: rejected.length ? now : status.lastErrorAt,
      rejectedTotal: status.rejectedTotal + rejected.length,
      nextRetryAt: null,
    });
  }
}
