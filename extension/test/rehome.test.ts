import { afterEach, describe, expect, it } from "vitest";
import type { ClientEvent } from "../src/generated/contract";
import { type Observed, Recorder } from "../src/lib/recorder";
import { continuedLabel, recordAgain } from "../src/lib/rehome";
import { MemoryKV, Store } from "../src/lib/store";
import { uuidv7 } from "../src/lib/uuid";
import { SESSION, ScriptedGateway, freshQueue, testUploader, transition } from "./helpers";

const OTHER = "0190a0b0-0000-7000-8000-0000000000b2";
const NEXT = { id: "0190a0b0-0000-7000-8000-0000000000c3", label: "flight", eventId: (ms: number) => `id-${ms}` };

/** An event as stored: `transition(ts)` in `session` with `seq`. */
const at = (seq: number, ts: number, session = SESSION): ClientEvent => ({ ...transition(ts), seq, session_id: session });

describe("recordAgain", () => {
  it("moves what was recorded after an idle close into a new session, in order, behind its own start", () => {
    const sent = [at(1, 100), at(2, 200), at(3, 300)];
    const queued = [at(4, 400), at(5, 500, OTHER)];
    const result = recordAgain({ sessionId: SESSION, stoppedAt: 150 }, sent, queued, NEXT);
    expect(result?.moved).toBe(3);
    expect(result?.lost).toBe(0);
    expect(result?.startedAt).toBe(200);
    const q = result?.queue ?? [];
    expect(q.map((e) => [e.type, e.session_id, e.ts])).toEqual([
      ["session.started", NEXT.id, 200],
      ["tab.activated", NEXT.id, 200],
      ["tab.activated", NEXT.id, 300],
      ["tab.activated", NEXT.id, 400],
      ["tab.activated", OTHER, 500], // another session's: as it was
    ]);
    expect(q[0]).toMatchObject({ label: "flight", client_id: sent[0]?.client_id });
    expect(q.slice(1, 4).map((e) => e.event_id)).toEqual(["id-200", "id-300", "id-400"]); // new events
    expect(q[4]?.event_id).toBe(queued[1]?.event_id);
    expect(q.every((e) => !("seq" in e))).toBe(true); // the queue numbers them
  });

  it("cannot move a batch's late events that another session's counted event follows", () => {
    // The server's clock for this install stands past them: copies would be clamped.
    const sent = [at(1, 100), at(2, 200), at(3, 300, OTHER)];
    expect(recordAgain({ sessionId: SESSION, stoppedAt: 150 }, sent, [], NEXT)).toBeNull();
    const queued = [at(4, 400)];
    const result = recordAgain({ sessionId: SESSION, stoppedAt: 150 }, sent, queued, NEXT);
    expect([result?.moved, result?.lost, result?.startedAt]).toEqual([1, 1, 400]);
  });

  it("starts the new session when the user is back, not at the idle reports before", () => {
    // Locked at night (recorded after the last event the server got), back in the morning.
    const locked = { ...at(2, 200), type: "idle.state", state: "locked", idle_for_s: 0 } as ClientEvent;
    const back = { ...at(3, 9_000), type: "idle.state", state: "active", idle_for_s: 0 } as ClientEvent;
    const result = recordAgain({ sessionId: SESSION, stoppedAt: 150 }, [at(1, 100), locked], [back, at(4, 9_500)], NEXT);
    expect(result?.startedAt).toBe(9_000);
    expect(result?.queue.map((e) => [e.type, e.ts])).toEqual([
      ["session.started", 9_000],
      ["idle.state", 9_000],
      ["tab.activated", 9_500],
    ]);
    expect(result?.moved).toBe(2);
    expect(recordAgain({ sessionId: SESSION, stoppedAt: 150 }, [at(1, 100), locked], [], NEXT)).toBeNull();
  });

  it("moves nothing when nothing was recorded after the close", () => {
    expect(recordAgain({ sessionId: SESSION, stoppedAt: 300 }, [at(1, 100), at(2, 300)], [at(3, 400, OTHER)], NEXT)).toBeNull();
  });
});

describe("continuedLabel", () => {
  it("marks the continuation once, within the label's limit, and leaves no name unnamed", () => {
    expect(continuedLabel("flight")).toBe("flight (continued)");
    expect(continuedLabel(continuedLabel("flight"))).toBe("flight (continued)");
    expect(continuedLabel("")).toBe("");
    expect(continuedLabel("x".repeat(200))).toHaveLength(200);
  });
});

describe("EventQueue.rewrite", () => {
  it("numbers the new contents from the seq after the acknowledged batch, and goes on after them", async () => {
    const { queue } = await freshQueue();
    await queue.append([1, 2, 3, 4].map((ts) => transition(ts)), "acct");
    const batch = await queue.takeBatch(2, 1 << 20, "b1", "acct");
    await queue.ack("b1");
    const rewritten = await queue.rewrite(batch?.events ?? [], "acct", (queued) => [transition(99), ...queued]);
    expect(rewritten?.map((e) => [e.seq, e.ts])).toEqual([
      [3, 99],
      [4, 3],
      [5, 4],
    ]);
    expect(await queue.rewrite(batch?.events ?? [], "acct", () => null)).toBeNull();
    const [next] = await queue.append([transition(7)], "acct");
    expect(next?.seq).toBe(6);
    const all = await queue.takeBatch(10, 1 << 20, "b2", "acct");
    expect(all?.events.map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    expect((await queue.stats()).count).toBe(0);
  });
});

const gateways: ScriptedGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.stop()));
});

describe("an idle close while the extension was offline", () => {
  it("records what followed in a new session that recording goes on in", async () => {
    const { queue } = await freshQueue();
    const store = new Store(new MemoryKV());
    const clock = { t: 1_700_000_000_000 };
    const recorder = new Recorder({ queue, store, now: () => clock.t, newId: (ms) => uuidv7(ms), onStored: () => undefined, log: () => undefined });
    const tab = (url: string): Observed => ({ payload: { type: "tab.activated", tab_id: 1, window_id: 1, url, title: "T" } });
    const old = await recorder.startSession("flight", async () => [tab("https://before.example/")]);
    const closedAt = clock.t;
    const gw = await new ScriptedGateway([
      { status: 202, body: { batch_id: "a", accepted: 2 } },
      { status: 202, body: { batch_id: "b", accepted: 2, stopped: [old.id], stops: [{ session_id: old.id, reason: "idle", stopped_at: closedAt }] } },
    ]).start();
    gateways.push(gw);
    await store.setConfig({ gatewayUrl: gw.url, token: "tok", account: "acct" });
    const uploader = testUploader(queue, store, clock, {
      onStopped: (stops, sent, account) => recorder.onServerStops(stops, sent, account),
    });
    await uploader.pump();
    clock.t += 3 * 3_600_000; // offline for three hours: the server closed the session
    await recorder.submit(clock.t, () => tab("https://plane.example/"));
    await recorder.submit(clock.t + 60_000, () => tab("https://wifi.example/"));
    await uploader.pump();

    const [, learned, again] = gw.received;
    expect(learned?.body.events.every((e) => e.session_id === old.id)).toBe(true); // stored, not counted
    const session = await store.session();
    expect(session).toMatchObject({ label: "flight (continued)", startedAt: clock.t });
    expect(session?.id).not.toBe(old.id);
    expect(again?.body.events.map((e) => [e.type, e.session_id, e.seq])).toEqual([
      ["session.started", session?.id, 5],
      ["tab.activated", session?.id, 6],
      ["tab.activated", session?.id, 7],
    ]);
    expect((await store.status()).sessionContinued).toMatch(/^in a new session: nothing reached the server/);
    expect((await queue.stats()).count).toBe(0);
    const [later] = await recorder.submit(clock.t + 90_000, () => tab("https://home.example/"));
    expect(later).toMatchObject({ session_id: session?.id, seq: 8 });
  });
});
