import { afterEach, describe, expect, it } from "vitest";
import { Uploader, type UploaderDeps } from "../src/lib/sender";
import { MemoryKV, Store } from "../src/lib/store";
import type { EventQueue } from "../src/lib/queue";
import { EventQueue as Queue } from "../src/lib/queue";
import { type Reply, ScriptedGateway, freshQueue, transition, content } from "./helpers";

const gateways: ScriptedGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.stop()));
});

async function setup(script: Reply[], opts: { batchEvents?: number; clock?: { t: number } } = {}) {
  const gw = await new ScriptedGateway(script).start();
  gateways.push(gw);
  const { queue, name } = await freshQueue();
  const store = new Store(new MemoryKV());
  await store.setConfig({ gatewayUrl: gw.url, token: "tok-1" });
  const clock = opts.clock ?? { t: 1_000_000 };
  const logs: string[] = [];
  let ids = 0;
  const make = (q: EventQueue, onStopped?: UploaderDeps["onStopped"]) =>
    new Uploader({
      onStopped,
      queue: q,
      store,
      fetch: (url, init) => fetch(url, init),
      now: () => clock.t,
      random: () => 0.5,
      newId: () => `batch-${++ids}`,
      log: (msg) => logs.push(msg),
      batchEvents: opts.batchEvents ?? 200,
    });
  return { gw, queue, name, store, clock, logs, uploader: make(queue), make };
}

describe("Uploader", () => {
  it("uploads in order, in batches of at most 200, with the token", async () => {
    const { gw, queue, uploader, store } = await setup([]);
    await queue.append(Array.from({ length: 450 }, (_, i) => transition(i + 1)));
    expect(await uploader.pump()).toEqual({ kind: "empty" });
    expect(gw.received.map((r) => r.body.events.length)).toEqual([200, 200, 50]);
    expect(gw.received.every((r) => r.auth === "Bearer tok-1")).toBe(true);
    const seqs = gw.received.flatMap((r) => r.body.events.map((e) => e.seq));
    expect(seqs).toEqual(Array.from({ length: 450 }, (_, i) => i + 1));
    expect(new Set(gw.received.map((r) => r.body.batch_id)).size).toBe(3);
    expect((await store.status()).lastUploadAt).toBe(1_000_000);
    expect((await queue.stats()).count).toBe(0);
  });

  it("hands the sessions the server stopped to onStopped with the batch, after it is acknowledged", async () => {
    const sid = "0190a0b0-0000-7000-8000-0000000000a1";
    const stops = [{ session_id: sid, reason: "idle", stopped_at: 5 }];
    const { gw, queue, store, make } = await setup([
      { status: 202, body: { batch_id: "x", accepted: 1, stopped: [sid], stops } },
      { status: 202, body: { batch_id: "y", accepted: 1 } },
      { status: 202, body: { batch_id: "z", accepted: 1, stopped: [sid] } }, // an earlier gateway
    ]);
    const told: unknown[][] = [];
    const uploader = make(queue, (s, sent, account) => Promise.resolve(void told.push([s, sent.map((e) => e.seq), account])));
    await queue.append([transition(1)], "acct");
    await store.setConfig({ account: "acct" });
    await uploader.pump();
    expect(told).toEqual([[stops, [1], "acct"]]);
    expect((await queue.stats()).count).toBe(0);
    await queue.append([transition(2)], "acct");
    await uploader.pump();
    expect(told).toHaveLength(1); // an answer without stops tells nothing
    await queue.append([transition(3)], "acct");
    await uploader.pump();
    expect(told[1]).toEqual([[{ session_id: sid, reason: "user", stopped_at: 0 }], [3], "acct"]);
    expect(gw.received).toHaveLength(3);
    expect((await store.status()).lastError).toBe("");
  });

  it("drops only the events the gateway rejected, and says so", async () => {
    const rejected = [{ index: 1, field: "$.url", reason: "too long" }];
    const { queue, uploader, store, logs } = await setup([{ status: 202, body: { batch_id: "x", accepted: 2, rejected } }]);
    await queue.append([transition(1), transition(2), transition(3)]);
    await uploader.pump();
    expect(logs).toContain("event rejected by the gateway, dropped");
    const status = await store.status();
    expect(status.rejectedTotal).toBe(1);
    expect(status.lastError).toMatch(/1 event\(s\) rejected/);
    expect((await queue.stats()).count + (await queue.stats()).inflight).toBe(0);
  });

  it("stops on 401 and keeps the queue until the user signs in again", async () => {
    const { gw, queue, uploader, store } = await setup([{ status: 401 }]);
    await queue.append([transition(1)]);
    expect(await uploader.pump()).toEqual({ kind: "auth" });
    expect(await uploader.pump()).toEqual({ kind: "auth" });
    expect(gw.received).toHaveLength(1);
    expect((await store.status()).lastError).toMatch(/sign in again/);
    expect((await queue.stats()).inflight).toBe(1);
    await store.updateStatus({ authError: false });
    expect(await uploader.pump()).toEqual({ kind: "empty" });
    expect(gw.received.map((r) => r.body.batch_id)).toEqual(["batch-1", "batch-1"]);
  });

  it("splits on 413 until the halves fit", async () => {
    const { gw, queue, uploader } = await setup([{ status: 413 }, { status: 413 }]);
    await queue.append([1, 2, 3, 4].map((t) => transition(t)));
    await uploader.pump();
    expect(gw.received.map((r) => r.body.events.map((e) => e.seq))).toEqual([[1, 2, 3, 4], [1, 2], [1], [2, 3, 4]]);
  });

  it("backs off on 503 honouring Retry-After, then sends the same batch once", async () => {
    const { gw, queue, uploader, clock, store } = await setup([
      { status: 503, headers: { "retry-after": "30" } },
      { status: 429 },
    ]);
    await queue.append([transition(1), transition(2)]);
    const first = await uploader.pump();
    expect(first).toEqual({ kind: "wait", waitMs: 30_000 });
    expect((await store.status()).nextRetryAt).toBe(clock.t + 30_000);
    clock.t += 10_000;
    expect(await uploader.pump()).toEqual({ kind: "wait", waitMs: 20_000 });
    expect(gw.received).toHaveLength(1);
    clock.t += 20_000;
    const second = await uploader.pump();
    expect(second.kind).toBe("wait"); // 429: attempt 2, jittered
    clock.t += 10 * 60_000;
    expect(await uploader.pump()).toEqual({ kind: "empty" });
    expect(gw.received.map((r) => r.body.batch_id)).toEqual(["batch-1", "batch-1", "batch-1"]);
  });

  it("retries with growing delays while the gateway is down, and delivers once it is back", async () => {
    const { queue, uploader, clock, store } = await setup([]);
    await queue.append([transition(1)]);
    await store.setConfig({ gatewayUrl: "http://127.0.0.1:9" }); // nothing listens on port 9
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await uploader.pump();
      expect(r.kind).toBe("wait");
      if (r.kind === "wait") waits.push(r.waitMs);
      clock.t += 10 * 60_000;
    }
    expect(waits[5]).toBeGreaterThan(waits[0] ?? 0);
    expect((await store.status()).lastError).toMatch(/unreachable/);
    const gw = await new ScriptedGateway([]).start();
    gateways.push(gw);
    await store.setConfig({ gatewayUrl: gw.url });
    expect(await uploader.pump()).toEqual({ kind: "empty" });
    expect(gw.received).toHaveLength(1);
    expect(gw.received[0]?.body.batch_id).toBe("batch-1");
  });

  it("after a worker restart mid-upload, resends the same batch_id (no loss, no double store)", async () => {
    // The gateway stores the batch but the connection dies before the answer arrives.
    const { gw, queue, name, make, uploader } = await setup([{ status: 202, destroy: true }]);
    await queue.append([transition(1), transition(2)]);
    const r = await uploader.pump();
    expect(r.kind).toBe("wait");
    queue.close(); // the worker is stopped
    const reopened = await Queue.open(indexedDB, name);
    await reopened.append([transition(3)]);
    const restarted = make(reopened);
    // a restarted worker waits for the persisted retry time, then resends
    const pending = await reopened.inflight();
    expect(pending?.attempt).toBe(1);
    await reopened.defer(pending?.batch_id ?? "", 1, 0);
    expect(await restarted.pump()).toEqual({ kind: "empty" });
    const ids = gw.received.map((x) => x.body.batch_id);
    expect(ids[0]).toBe(ids[1]);
    expect(gw.received.map((x) => x.body.events.map((e) => e.seq))).toEqual([[1, 2], [1, 2], [3]]);
  });

  it("keeps one batch in flight when pumped concurrently", async () => {
    const { gw, queue, uploader } = await setup([]);
    await queue.append(Array.from({ length: 10 }, (_, i) => transition(i + 1)));
    await Promise.all([uploader.pump(), uploader.pump(), uploader.pump()]);
    expect(gw.received).toHaveLength(1);
    expect(gw.received[0]?.body.events).toHaveLength(10);
  });

  it("drops a batch refused as malformed (400) and carries on", async () => {
    const { gw, queue, uploader, store } = await setup([{ status: 400, body: { status_code: 400, detail: "bad json" } }], {
      batchEvents: 1,
    });
    await queue.append([transition(1), content(2, 10)]);
    await uploader.pump();
    expect(gw.received.map((r) => r.body.events[0]?.seq)).toEqual([1, 2]);
    expect((await store.status()).lastError).toBe("");
    expect((await queue.stats()).droppedEvents).toBe(1);
  });

  it("does nothing when signed out", async () => {
    const { gw, queue, uploader, store } = await setup([]);
    await store.setConfig({ token: "" });
    await queue.append([transition(1)]);
    expect(await uploader.pump()).toEqual({ kind: "signed-out" });
    expect(gw.received).toHaveLength(0);
  });
});

describe("Uploader with a duplicate answer", () => {
  it("treats `duplicate` as stored and moves on", async () => {
    const { gw, queue, uploader, logs } = await setup([{ status: 202, body: { batch_id: "x", accepted: 2, duplicate: true } }]);
    await queue.append([transition(1), transition(2)]);
    expect(await uploader.pump()).toEqual({ kind: "empty" });
    expect(gw.received).toHaveLength(1);
    expect(logs).toContain("batch was already stored (a retry after a lost answer)");
    expect(await queue.inflight()).toBeNull();
  });
});
