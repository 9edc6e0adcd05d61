import { describe, expect, it } from "vitest";
import { FlushScheduler, type Timers } from "../src/lib/scheduler";
import type { PumpResult } from "../src/lib/sender";

/** Manual clock: timers fire only when the test advances time. */
class ManualTimers implements Timers {
  t = 0;
  private next = 1;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  async advance(ms: number): Promise<void> {
    this.t += ms;
    for (const [id, timer] of [...this.pending].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at <= this.t) {
        this.pending.delete(id);
        timer.fn();
      }
    }
    await new Promise((r) => setTimeout(r, 0));
  }
}

function setup(results: PumpResult[] = []) {
  const timers = new ManualTimers();
  const pumps: number[] = [];
  const scheduler = new FlushScheduler(() => {
    pumps.push(timers.t);
    return Promise.resolve(results.shift() ?? { kind: "empty" });
  }, timers);
  return { timers, pumps, scheduler };
}

describe("FlushScheduler", () => {
  it("uploads 5 s after the first waiting event, however many follow", async () => {
    const { timers, pumps, scheduler } = setup();
    scheduler.stored(1);
    for (let i = 0; i < 4; i++) {
      await timers.advance(1_000);
      scheduler.stored(2 + i);
    }
    expect(pumps).toEqual([]);
    await timers.advance(1_000);
    expect(pumps).toEqual([5_000]);
  });

  it("uploads at once when 200 events wait", async () => {
    const { timers, pumps, scheduler } = setup();
    scheduler.stored(199);
    await timers.advance(100);
    expect(pumps).toEqual([]);
    scheduler.stored(200);
    await timers.advance(0);
    expect(pumps).toEqual([100]);
  });

  it("comes back when the uploader asks to wait (backoff), not earlier", async () => {
    const { timers, pumps, scheduler } = setup([{ kind: "wait", waitMs: 12_000 }]);
    await scheduler.run();
    await timers.advance(11_999);
    expect(pumps).toEqual([0]);
    await timers.advance(1);
    expect(pumps).toEqual([0, 12_000]);
  });

  it("does nothing without waiting events", async () => {
    const { timers, pumps, scheduler } = setup();
    scheduler.stored(0);
    await timers.advance(60_000);
    expect(pumps).toEqual([]);
  });
});
