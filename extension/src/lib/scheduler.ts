/**
 * When to upload: 5 s after the first event waiting (a debounce would let a
 * busy browser postpone uploads forever), at once when 200 events wait, and at
 * the retry time the uploader asks for. Timers are injected for tests.
 */
import type { PumpResult } from "./sender";

/** The timer functions the scheduler uses. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface FlushPolicy {
  afterMs: number;
  atEvents: number;
}

export const DEFAULT_FLUSH: FlushPolicy = { afterMs: 5_000, atEvents: 200 };

/** Triggers the uploader's pump according to the flush policy. */
export class FlushScheduler {
  private handle: unknown = null;
  private at = Infinity;

  constructor(
    private readonly pump: () => Promise<PumpResult>,
    private readonly timers: Timers,
    private readonly policy: FlushPolicy = DEFAULT_FLUSH,
  ) {}

  /** Events were stored and `queued` now wait: upload now or within `afterMs`. */
  stored(queued: number): void {
    if (queued >= this.policy.atEvents) void this.run();
    else if (queued > 0) this.schedule(this.policy.afterMs);
  }

  /** Make sure a pump happens within `ms` (an earlier one is kept). */
  schedule(ms: number): void {
    const at = this.timers.now() + ms;
    if (this.handle !== null && this.at <= at) return;
    if (this.handle !== null) this.timers.clearTimeout(this.handle);
    this.at = at;
    this.handle = this.timers.setTimeout(() => {
      this.handle = null;
      this.at = Infinity;
      void this.run();
    }, ms);
  }

  /** Pump now; if the uploader must wait (backoff), come back when it may retry. */
  async run(): Promise<PumpResult> {
    const result = await this.pump();
    if (result.kind === "wait") this.schedule(result.waitMs);
    return result;
  }
}
