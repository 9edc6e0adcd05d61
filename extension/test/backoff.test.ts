import { describe, expect, it } from "vitest";
import { classifyStatus, parseRetryAfter, retryDelay } from "../src/lib/backoff";

describe("backoff", () => {
  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-11-26T12:00:00Z");
    expect(parseRetryAfter("7", now)).toBe(7000);
    expect(parseRetryAfter("Thu, 26 Nov 2026 12:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("garbage", now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });

  it("grows exponentially, stays within the cap, and never undercuts Retry-After", () => {
    const policy = { baseMs: 1000, capMs: 60_000 };
    for (let attempt = 1; attempt <= 40; attempt++) {
      for (const r of [0, 0.1, 0.5, 0.9, 0.999999]) {
        const d = retryDelay(attempt, null, r, policy);
        expect(d).toBeGreaterThanOrEqual(100);
        expect(d).toBeLessThanOrEqual(Math.min(60_000, 1000 * 2 ** (attempt - 1)));
        expect(retryDelay(attempt, 90_000, r, policy)).toBeGreaterThanOrEqual(90_000);
      }
    }
    expect(retryDelay(5, null, 0.999, policy)).toBeGreaterThan(retryDelay(1, null, 0.999, policy));
  });

  it("jitter spreads retries of many clients", () => {
    const delays = new Set(Array.from({ length: 50 }, (_, i) => retryDelay(6, null, i / 50)));
    expect(delays.size).toBeGreaterThan(40);
  });

  it("classifies answers", () => {
    expect(classifyStatus(202)).toBe("ack");
    expect(classifyStatus(401)).toBe("auth");
    expect(classifyStatus(403)).toBe("auth");
    expect(classifyStatus(413)).toBe("split");
    for (const s of [0, 404, 408, 429, 500, 502, 503]) expect(classifyStatus(s)).toBe("retry");
    expect(classifyStatus(400)).toBe("poison");
    expect(classifyStatus(422)).toBe("poison");
  });
});
