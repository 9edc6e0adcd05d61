import { describe, expect, it } from "vitest";
import { EventQueue } from "../src/lib/queue";
import { content, freshQueue, transition } from "./helpers";

describe("EventQueue", () => {
  it("gives strictly increasing seqs that continue after the worker restarts", async () => {
    const { queue, name } = await freshQueue();
    const first = await queue.append([transition(1), transition(2)]);
    queue.close();
    const reopened = await EventQueue.open(indexedDB, name);
    const second = await reopened.append([transition(3)]);
    expect([...first, ...second].map((e) => e.seq)).toEqual([1, 2, 3]);
    const batch = await reopened.takeBatch(10, 1 << 20, "b1");
    expect(batch?.events.map((e) => e.ts)).toEqual([1, 2, 3]);
  });

  it("resends the same batch, unchanged, after a restart until it is acknowledged", async () => {
    const { queue, name } = await freshQueue();
    await queue.append([transition(1), transition(2), transition(3)]);
    const batch = await queue.takeBatch(2, 1 << 20, "batch-a");
    await queue.append([transition(4)]);
    queue.close();
    const reopened = await EventQueue.open(indexedDB, name);
    const again = await reopened.takeBatch(200, 1 << 20, "batch-b");
    expect(again).toEqual(batch);
    await reopened.ack("batch-a");
    const next = await reopened.takeBatch(200, 1 << 20, "batch-c");
    expect(next?.batch_id).toBe("batch-c");
    expect(next?.events.map((e) => e.seq)).toEqual([3, 4]);
    await reopened.ack("batch-c");
    expect(await reopened.takeBatch(200, 1 << 20, "batch-d")).toBeNull();
    expect((await reopened.stats()).count).toBe(0);
  });

  it("limits a batch by events and by bytes, but always sends at least one event", async () => {
    const { queue } = await freshQueue();
    await queue.append([content(1, 5000), content(2, 5000), transition(3)]);
    const small = await queue.takeBatch(200, 6000, "b");
    expect(small?.events.map((e) => e.seq)).toEqual([1]);
    await queue.ack("b");
    const byCount = await queue.takeBatch(1, 1 << 20, "c");
    expect(byCount?.events.map((e) => e.seq)).toEqual([2]);
  });

  it("splits a batch the gateway found too large, keeping order", async () => {
    const { queue } = await freshQueue();
    await queue.append([1, 2, 3, 4, 5].map((t) => transition(t)));
    await queue.takeBatch(5, 1 << 20, "big");
    const half = await queue.split("big", "half");
    expect(half?.batch_id).toBe("half");
    expect(half?.events.map((e) => e.seq)).toEqual([1, 2, 3]);
    await queue.ack("half");
    const rest = await queue.takeBatch(200, 1 << 20, "rest");
    expect(rest?.events.map((e) => e.seq)).toEqual([4, 5]);
  });

  it("strips the text of a single page too large to send, and drops a single transition", async () => {
    const { queue } = await freshQueue();
    await queue.append([content(1, 1000)]);
    await queue.takeBatch(1, 1 << 20, "a");
    const stripped = await queue.split("a", "b");
    expect(stripped?.events[0]).toMatchObject({ seq: 1, text: "" });
    await queue.ack("b");
    await queue.append([transition(2)]);
    await queue.takeBatch(1, 1 << 20, "c");
    expect(await queue.split("c", "d")).toBeNull();
    expect((await queue.stats()).droppedEvents).toBe(1);
  });

  it("when short of bytes, drops page text before any transition", async () => {
    const { queue } = await freshQueue({ maxEvents: 1000, maxBytes: 30_000 });
    const drafts = [];
    for (let i = 0; i < 20; i++) drafts.push(i % 2 ? content(i, 4000) : transition(i));
    await queue.append(drafts);
    const stats = await queue.stats();
    expect(stats.count).toBe(20);
    expect(stats.bytes).toBeLessThanOrEqual(30_000);
    expect(stats.droppedTexts).toBeGreaterThan(0);
    const batch = await queue.takeBatch(100, 1 << 30, "all");
    const texts = batch?.events.filter((e) => e.type === "page.content").map((e) => ("text" in e ? e.text : ""));
    // the oldest texts went first; the newest survive
    expect(texts?.at(-1)).toHaveLength(4000);
    expect(texts?.[0]).toBe("");
    expect(batch?.events.filter((e) => e.type === "tab.activated")).toHaveLength(10);
  });

  it("filled offline to 100,000 events, keeps every transition and drops page content first", async () => {
    const { queue } = await freshQueue();
    const chunk = 5_000;
    let ts = 0;
    let madeTransitions = 0;
    let madeContents = 0;
    // ~90,000 transitions and ~20,000 page-content events, interleaved: 10,000 too many.
    for (let round = 0; round < 22; round++) {
      const drafts = [];
      for (let i = 0; i < chunk; i++) {
        ts += 1;
        const isText = i % 11 < 2;
        if (isText) madeContents += 1;
        else madeTransitions += 1;
        drafts.push(isText ? content(ts, 10) : transition(ts));
      }
      await queue.append(drafts);
    }
    const stats = await queue.stats();
    expect(stats.count).toBe(100_000);
    expect(stats.droppedEvents).toBe(10_000);
    let transitions = 0;
    let contents = 0;
    let last = 0;
    for (let n = 0; ; n++) {
      const batch = await queue.takeBatch(500, 1 << 30, `b${n}`);
      if (!batch) break;
      for (const e of batch.events) {
        expect(e.seq).toBeGreaterThan(last);
        last = e.seq;
        if (e.type === "page.content") contents += 1;
        else transitions += 1;
      }
      await queue.ack(`b${n}`);
    }
    expect(madeTransitions).toBeLessThan(100_000);
    expect(transitions).toBe(madeTransitions);
    expect(contents).toBe(madeContents - 10_000);
    expect(last).toBe(110_000);
  }, 120_000);
});

describe("batch sizing", () => {
  it("counts UTF-8 bytes, so non-ASCII page text cannot exceed the gateway's body limit", async () => {
    const { queue } = await freshQueue();
    const cjk = content(1, 0);
    const big = { ...cjk, text: "漢".repeat(300_000 / 3) } as typeof cjk;
    await queue.append([big, { ...big, ts: 2 }, transition(3)]);
    const batch = await queue.takeBatch(200, 512 * 1024, "b");
    // each event is ~300 KB in UTF-8 (100k chars): only one fits in 512 KiB
    expect(batch?.events).toHaveLength(1);
  });
});
