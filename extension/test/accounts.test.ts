/**
 * Queued events and accounts: what was queued while paired with one account never
 * reaches another (a shared browser profile, or a user who erased their data and
 * was paired again), while the same account paired again uploads its own queue.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { ClientEvent } from "../src/generated/contract";
import { queueOwner } from "../src/lib/pairing";
import { type Observed, Recorder } from "../src/lib/recorder";
import { MemoryKV, Store } from "../src/lib/store";
import { uuidv7 } from "../src/lib/uuid";
import { ScriptedGateway, freshQueue, testUploader, transition } from "./helpers";

const gateways: ScriptedGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.stop()));
});

const page = (url: string): Observed => ({ payload: { type: "tab.activated", tab_id: 1, window_id: 1, url, title: "t" } });

/** The extension's recorder and uploader over one queue and store, against a scripted gateway. */
async function extension(script: { status: number }[] = []) {
  const gw = await new ScriptedGateway(script).start();
  gateways.push(gw);
  const { queue } = await freshQueue();
  const store = new Store(new MemoryKV());
  const clock = { t: 1_700_000_000_000 };
  const recorder = new Recorder({ queue, store, now: () => clock.t, newId: (ms) => uuidv7(ms), onStored: () => undefined, log: () => undefined });
  const uploader = testUploader(queue, store, clock);
  /** What `signIn` does with a paired token the gateway took: config, queue and session in one step. */
  const pair = async (token: string, account: string): Promise<number> => {
    const owner = await queueOwner(token, account);
    const { deleted } = await recorder.switchAccount({ gatewayUrl: gw.url, token, account: owner }, true);
    await store.updateStatus({ authError: false });
    return deleted;
  };
  const visit = async (url: string) => {
    clock.t += 1_000;
    await recorder.submit(clock.t, () => page(url));
  };
  const uploaded = () =>
    gw.received.flatMap((r) => r.body.events.map((e) => ({ auth: r.auth, url: (e as unknown as { url?: string }).url ?? e.type })));
  return { gw, queue, store, recorder, uploader, pair, visit, uploaded };
}

describe("queued events and accounts", () => {
  it("a shared profile: what was queued while paired with Ann never goes to Bob's account", async () => {
    const ext = await extension([{ status: 202 }, { status: 403 }]);
    await ext.pair("tok-ann", "ann");
    await ext.recorder.startSession("", async () => []);
    await ext.visit("https://ann.example/sent");
    await ext.uploader.pump();
    await ext.visit("https://ann.example/diagnosis");
    expect(await ext.uploader.pump()).toEqual({ kind: "auth" }); // Ann signed out everywhere
    await ext.visit("https://ann.example/after-refusal");

    const deleted = await ext.pair("tok-bob", "bob");
    expect(deleted).toBe(2); // the refused batch in flight and the visit after it
    expect((await ext.queue.stats()).count + (await ext.queue.stats()).inflight).toBe(0);
    expect(await ext.store.session()).toBeNull(); // Ann's session does not go on for Bob
    await ext.visit("https://bob.example/not-in-a-session");
    await ext.recorder.startSession("", async () => []);
    await ext.visit("https://bob.example/mine");
    expect(await ext.uploader.pump()).toEqual({ kind: "empty" });
    const bobs = ext.uploaded().filter((u) => u.auth === "Bearer tok-bob");
    expect(bobs.map((u) => u.url)).toEqual(["session.started", "https://bob.example/mine"]);
    expect(ext.uploaded().filter((u) => u.url.startsWith("https://ann.example/") && u.auth !== "Bearer tok-ann")).toEqual([]);
  });

  it("the same account paired again (after sign out everywhere) uploads its own queue", async () => {
    const ext = await extension([{ status: 403 }]);
    await ext.pair("tok-1", "ann");
    await ext.recorder.startSession("", async () => []);
    await ext.visit("https://ann.example/a");
    expect(await ext.uploader.pump()).toEqual({ kind: "auth" });
    await ext.visit("https://ann.example/b");
    expect(await ext.pair("tok-2", "ann")).toBe(0);
    expect(await ext.uploader.pump()).toEqual({ kind: "empty" });
    const resent = ext.uploaded().filter((u) => u.auth === "Bearer tok-2").map((u) => u.url);
    expect(resent).toEqual(["session.started", "https://ann.example/a", "https://ann.example/b"]);
  });

  it("after an erasure the account has a new identifier: the old queue is deleted, not uploaded", async () => {
    const ext = await extension([{ status: 401 }]);
    await ext.pair("tok-1", "ann-epoch-1");
    await ext.recorder.startSession("", async () => []);
    await ext.visit("https://ann.example/erased");
    expect(await ext.uploader.pump()).toEqual({ kind: "auth" }); // erasure deleted the token
    expect(await ext.pair("tok-2", "ann-epoch-2")).toBe(2);
    expect(await ext.store.session()).toBeNull(); // the erased account's session ended
    await ext.recorder.startSession("", async () => []);
    await ext.visit("https://ann.example/new");
    await ext.uploader.pump();
    const sent = ext.uploaded().filter((u) => u.auth === "Bearer tok-2").map((u) => u.url);
    expect(sent).toEqual(["session.started", "https://ann.example/new"]);
  });

  it("what was recorded before any pairing goes to the first account paired, and only to it", async () => {
    const ext = await extension([{ status: 403 }]);
    await ext.recorder.startSession("", async () => []);
    await ext.visit("https://unpaired.example/");
    expect(await ext.pair("tok-ann", "ann")).toBe(0);
    expect(await ext.uploader.pump()).toEqual({ kind: "auth" });
    expect(await ext.pair("tok-bob", "bob")).toBe(2);
    await ext.uploader.pump();
    expect(ext.uploaded().filter((u) => u.auth === "Bearer tok-bob")).toEqual([]);
  });

  it("what the browser reports while Bob connects is Ann's (deleted) or nobody's, never Bob's in Ann's session", async () => {
    const ext = await extension([{ status: 403 }]);
    await ext.pair("tok-ann", "ann");
    const anns = await ext.recorder.startSession("Ann's appointments", async () => []);
    await ext.visit("https://ann.example/queued");
    expect(await ext.uploader.pump()).toEqual({ kind: "auth" });
    // Connecting Bob: the pairing tab keeps reporting (its done page loads, then closes) while
    // the switch runs; each report resolves a little later than the one before.
    const reports = [1, 2, 3, 4].map((i) =>
      ext.recorder.submit(1_700_000_100_000 + i, () => new Promise((ok) => setTimeout(() => ok(page(`https://pair.example/${i}`)), 5 * i))),
    );
    const switched = ext.recorder.switchAccount({ token: "tok-bob", account: await queueOwner("tok-bob", "bob") }, true);
    reports.push(ext.recorder.submit(1_700_000_100_010, () => page("https://pair.example/closed")));
    await Promise.all([...reports, switched]);
    expect((await switched).sessionEnded).toBe(true);
    expect((await ext.queue.stats()).count).toBe(0);
    await ext.store.updateStatus({ authError: false });

    const bobs = await ext.recorder.startSession("", async () => []);
    await ext.visit("https://bob.example/mine");
    await ext.uploader.pump();
    const sent = ext.gw.received.filter((r) => r.auth === "Bearer tok-bob").flatMap((r) => r.body.events);
    expect(sent.map((e) => e.session_id)).toEqual([bobs.id, bobs.id]);
    expect(sent.some((e) => e.session_id === anns.id)).toBe(false);
  });

  it("a token the gateway refuses keeps the queue, and the other account's session ends in it", async () => {
    const ext = await extension();
    await ext.pair("tok-ann", "ann");
    await ext.recorder.startSession("", async () => []);
    await ext.visit("https://ann.example/a");
    const typo = { token: "tok-typo", account: await queueOwner("tok-typo", "") };
    expect(await ext.recorder.switchAccount(typo, false)).toEqual({ deleted: 0, sessionEnded: true });
    await ext.visit("https://typo.example/not-in-a-session");
    expect(await ext.pair("tok-ann-2", "ann")).toBe(0);
    await ext.uploader.pump();
    const sent = ext.uploaded().filter((u) => u.auth === "Bearer tok-ann-2").map((u) => u.url);
    expect(sent).toEqual(["session.started", "https://ann.example/a", "session.stopped"]);
  });

  it("a batch never takes another account's events, even before the queue was switched", async () => {
    const { queue } = await freshQueue();
    await queue.append([transition(1), transition(2)], "account:ann");
    await queue.append([transition(3)], "");
    await queue.append([transition(4)], "account:bob");
    const bobs = await queue.takeBatch(200, 1 << 20, "b1", "account:bob");
    expect(bobs?.events.map((e: ClientEvent) => e.ts)).toEqual([3, 4]);
    // Ann's batch in flight is dropped, not handed to Bob's token.
    await queue.ack("b1");
    const anns = await queue.takeBatch(200, 1 << 20, "b2", "account:ann");
    expect(anns?.events.map((e) => e.ts)).toEqual([1, 2]);
    expect(await queue.takeBatch(200, 1 << 20, "b3", "account:bob")).toBeNull();
    expect((await queue.stats()).droppedEvents).toBe(2);
  });

  it("names a paired account by the dashboard's identifier, a pasted token by itself", async () => {
    expect(await queueOwner("tok-1", "ann")).toBe(await queueOwner("tok-2", "ann"));
    expect(await queueOwner("tok-1", "")).not.toBe(await queueOwner("tok-2", ""));
    expect(await queueOwner("tok-1", "")).toBe(await queueOwner("tok-1", ""));
    expect(await queueOwner("tok-1", "")).not.toContain("tok-1");
  });
});
