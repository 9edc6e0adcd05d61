/**
 * Retry timing for uploads: exponential backoff with full jitter, never sooner
 * than the server's Retry-After. Pure functions, the clock and randomness injected.
 */

export interface BackoffPolicy {
  /** First retry waits up to this long (ms). */
  baseMs: number;
  /** No wait is longer than this (ms). */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 5 * 60_000 };

/**
 * Parse a Retry-After header (delta seconds or an HTTP date) into milliseconds from `nowMs`.
 *
 * @returns the wait in ms (>= 0), or null when the header is absent or unparsable.
 */
export function parseRetryAfter(header: string | null | undefined, nowMs: number): number | null {
  if (header == null) return null;
  const text = header.trim();
  if (text === "") return null;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - nowMs);
}

/**
 * Delay before retry number `attempt` (1 = first retry).
 *
 * Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))], so many installs
 * retrying at once spread out. A Retry-After from the server is a floor.
 *
 * @param random - a number in [0, 1).
 */
export function retryDelay(
  attempt: number,
  retryAfterMs: number | null,
  random: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
): number {
  const exp = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  const jittered = Math.floor(exp * Math.min(Math.max(random, 0), 0.999999));
  const floor = retryAfterMs ?? 0;
  return Math.max(jittered, floor, 100);
}

/** What the sender does with an HTTP answer to a batch. */
export type Outcome = "ack" | "auth" | "split" | "retry" | "poison";

/** Classify an upload's HTTP status (0 = network error). */
export function classifyStatus(status: number): Outcome {
  if (status >= 200 && status < 300) return "ack";
  if (status === 401 || status === 403) return "auth";
  if (status === 413) return "split";
  // A malformed batch never gets better by retrying; anything else (network,
  // 408, 429, 5xx, or a misconfigured gateway URL answering 404) is retried.
  if (status === 400 || status === 422) return "poison";
  return "retry";
}
