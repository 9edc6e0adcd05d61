import Ajv2020 from "ajv/dist/2020";
import { describe, expect, it } from "vitest";
import schema from "../src/generated/contract.schema.json";
import type { ClientEvent } from "../src/generated/contract";
import { EVENT_TYPES } from "../src/generated/meta";
import { BLOCKED_URL, NO_USER_SECRETS, userSecrets } from "../src/lib/urls";
import { type Observed, Recorder, admit } from "../src/lib/recorder";
import { MemoryKV, Store } from "../src/lib/store";
import { uuidv7 } from "../src/lib/uuid";
import { freshQueue } from "./helpers";

const ajv = new Ajv2020({ strict: false, allErrors: true });
const validate = ajv.compile(schema);

async function setup(blocked: string[] = []) {
  const { queue } = await freshQueue();
  const store = new Store(new MemoryKV());
  await store.setConfig({ blockedDomains: blocked });
  const clock = { t: 1_700_000_000_000 };
  const stored: ClientEvent[] = [];
  const recorder = new Recorder({
    queue,
    store,
    now: () => clock.t,
    newId: (ms) => uuidv7(ms),
    onStored: (evs) => stored.push(...evs),
    log: () => undefined,
  });
  return { queue, store, clock, stored, recorder };
}

const tab = (url: string, tab_id = 3): Observed => ({
  payload: { type: "tab.activated", tab_id, window_id: 1, url, title: "Title" },
});

describe("Recorder", () => {
  it("records nothing outside a session", async () => {
    const { recorder, stored } = await setup();
    await recorder.submit(1, () => tab("https://a.example/"));
    expect(stored).toHaveLength(0);
  });

  it("starts with session.started and the current tab, stops with session.stopped", async () => {
    const { recorder, stored, clock, store } = await setup();
    const session = await recorder.startSession("research", async () => [
      tab("https://a.example/"),
      { payload: { type: "window.focus", focused: true, window_id: 1 } },
    ]);
    clock.t += 5_000;
    await recorder.submit(clock.t, () => tab("https://b.example/", 4));
    clock.t += 1_000;
    await recorder.stopSession();
    await recorder.submit(clock.t + 1, () => tab("https://c.example/"));
    expect(stored.map((e) => e.type)).toEqual(["session.started", "tab.activated", "window.focus", "tab.activated", "session.stopped"]);
    expect(stored.every((e) => e.session_id === session.id)).toBe(true);
    expect(stored.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(stored.at(-1)?.ts).toBe(session.startedAt + 6_000);
    expect(new Set(stored.map((e) => e.client_id)).size).toBe(1);
    expect(await store.session()).toBeNull();
  });

  it("ends the running session when the server stopped it, says why, and records nothing more in it", async () => {
    const { recorder, stored, clock, store } = await setup();
    const session = await recorder.startSession("evening", async () => [tab("https://a.example/")]);
    const byUser = (id: string) => [{ session_id: id, reason: "user" as const, stopped_at: clock.t }];
    expect(await recorder.onServerStops(byUser("0190a0b0-0000-7000-8000-000000000001"), [], "")).toBeUndefined();
    expect((await store.session())?.id).toBe(session.id); // another session: nothing changes
    expect(await recorder.onServerStops(byUser(session.id), [], "")).toBeNull();
    expect(await store.session()).toBeNull();
    expect((await store.status()).sessionEnded).toBe('"evening" was stopped on the dashboard; start a new one to go on recording');
    const before = stored.length;
    await recorder.submit(clock.t + 1, () => tab("https://b.example/", 4));
    expect(stored).toHaveLength(before); // no session: not recorded in vain
    expect(stored.some((e) => e.type === "session.stopped")).toBe(false); // the server's is logged
    await recorder.startSession("", async () => []);
    expect((await store.status()).sessionEnded).toBe(""); // a new session: the note goes
  });

  it("stores events in the order they were observed even when look-ups finish out of order", async () => {
    const { recorder, stored } = await setup();
    await recorder.startSession("", async () => []);
    const slow = recorder.submit(10, async () => {
      await new Promise((r) => setTimeout(r, 30));
      return tab("https://slow.example/");
    });
    const fast = recorder.submit(11, () => tab("https://fast.example/"));
    await Promise.all([slow, fast]);
    const urls = stored.filter((e) => e.type === "tab.activated").map((e) => ("url" in e ? e.url : ""));
    expect(urls).toEqual(["https://slow.example/", "https://fast.example/"]);
  });

  it("pausing records idle, drops events while paused, and resuming records active and the tab", async () => {
    const { recorder, stored, clock } = await setup();
    await recorder.startSession("", async () => []);
    await recorder.pause(10);
    clock.t += 60_000;
    await recorder.submit(clock.t, () => tab("https://during-pause.example/"));
    await recorder.resume(async () => [tab("https://after.example/")]);
    expect(stored.map((e) => e.type)).toEqual(["session.started", "idle.state", "idle.state", "tab.activated"]);
    expect(stored.map((e) => ("state" in e ? e.state : null)).filter(Boolean)).toEqual(["idle", "active"]);
    // a pause is idle from this moment, not inferred from inactivity
    expect(stored.filter((e) => e.type === "idle.state").map((e) => ("idle_for_s" in e ? e.idle_for_s : null))).toEqual([0, 0]);
  });

  it("never stores incognito events, page text of blocked domains, or a blocked URL", async () => {
    const { recorder, stored } = await setup(["secret.example"]);
    await recorder.startSession("", async () => []);
    await recorder.submit(1, () => ({ ...tab("https://public.example/"), incognito: true }));
    await recorder.submit(2, () => tab("https://mail.secret.example/inbox"));
    await recorder.submit(3, () => ({
      payload: { type: "page.content", tab_id: 3, url: "https://secret.example/x", title: "private", text: "secret", content_hash: "a".repeat(64) },
    }));
    const json = JSON.stringify(stored);
    expect(json).not.toContain("secret");
    expect(json).not.toContain("public.example");
    expect(stored.map((e) => e.type)).toEqual(["session.started", "tab.activated"]);
    expect(stored[1]).toMatchObject({ url: BLOCKED_URL, title: "" });
  });

  it("builds every event type exactly as the schema requires", async () => {
    const { recorder, stored } = await setup();
    const h = "0123456789abcdef".repeat(4);
    const observed: Observed[] = [
      tab("https://a.example/"),
      { payload: { type: "tab.updated", tab_id: 3, window_id: 1, url: "https://a.example/#x", title: "T", change: "history" } },
      { payload: { type: "tab.updated", tab_id: 3, window_id: 1, url: "https://a.example/" + "x".repeat(9000), title: "y".repeat(3000), change: "url" } },
      { payload: { type: "tab.removed", tab_id: 3, window_id: 1 } },
      { payload: { type: "window.focus", focused: false, window_id: -1 } },
      { payload: { type: "idle.state", state: "locked" } },
      { payload: { type: "media.state", tab_id: 3, window_id: 1, audible: true, playing: true } },
      { payload: { type: "page.content", tab_id: 3, url: "https://a.example/", title: "T", lang: "en", text: "z".repeat(300_000), content_hash: h } },
    ];
    await recorder.startSession("label", async () => observed);
    await recorder.stopSession();
    expect(new Set(stored.map((e) => e.type))).toEqual(new Set(EVENT_TYPES));
    for (const ev of stored) {
      const ok = validate(ev);
      expect(ok, `${ev.type}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      expect(ev.event_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    // the validator does reject what the gateway would reject
    expect(validate({ ...stored[1], seq: -1 })).toBe(false);
    expect(validate({ ...stored[1], event_id: "not-a-uuid" })).toBe(false);
    // and a batch of them is a valid EventBatch
    const batchValidator = ajv.compile({ $ref: "#/$defs/EventBatch", $defs: schema.$defs });
    const batch = { batch_id: uuidv7(1), client_id: stored[0]?.client_id, events: stored };
    expect(batchValidator(batch), ajv.errorsText(batchValidator.errors)).toBe(true);
  });
});

describe("admit", () => {
  it("matches blocked domains and their subdomains only", () => {
    const blocked = { blocked: ["bank.example"], secrets: NO_USER_SECRETS };
    const url = (u: string) => admit(tab(u), blocked);
    expect(url("https://bank.example/")).toMatchObject({ url: BLOCKED_URL });
    expect(url("https://www.bank.example/login")).toMatchObject({ url: BLOCKED_URL });
    expect(url("https://notbank.example/")).toMatchObject({ url: "https://notbank.example/" });
    expect(admit({ payload: { type: "media.state", tab_id: 1, window_id: 1, audible: true, playing: false }, tabUrl: "https://bank.example/v" }, blocked)).toBeNull();
  });
});

describe("admit: only web pages, without secrets", () => {
  const privacy = { blocked: [], secrets: NO_USER_SECRETS };
  const updated = (url: string, change: "url" | "title" | "history" = "url"): Observed => ({
    payload: { type: "tab.updated", tab_id: 4, window_id: 1, url, title: "Diary of Alice", change },
  });

  it("records a switch to a page that is not a web page as about:blank, without its title", () => {
    for (const url of [
      "file:///home/alice/diary.html",
      "data:text/html,<title>x</title>",
      "chrome://settings/passwords",
      "about:blank",
      "chrome-extension://abc/popup.html",
      "blob:https://a.example/1",
      "view-source:https://a.example/",
      "chrome://newtab/",
    ]) {
      expect(admit(tab(url), privacy)).toMatchObject({ type: "tab.activated", url: "about:blank", title: "" });
      expect(admit(updated(url), privacy)).toMatchObject({ url: "about:blank", title: "" });
      expect(admit(updated(url, "title"), privacy)).toBeNull();
      expect(admit({ payload: { type: "media.state", tab_id: 4, window_id: 1, audible: true, playing: true }, tabUrl: url }, privacy)).toBeNull();
      expect(admit({ payload: { type: "page.content", tab_id: 4, url, title: "T", lang: "", text: "t", content_hash: "a".repeat(64) } }, privacy)).toBeNull();
    }
  });

  it("strips fragments and credentials from every URL it keeps, with the user's extra names", () => {
    const mine = { blocked: [], secrets: userSecrets(["ref"]) };
    const url = "https://u:p@a.example/cb?code=123&q=1&ref=x#token";
    expect(admit(tab(url), mine)).toMatchObject({ url: "https://a.example/cb?q=1" });
    // Chrome titles a loading tab with its URL, secrets included: that is no title.
    const loading = { ...updated(url), payload: { ...updated(url).payload, title: "a.example/cb?code=123&q=1&ref=x#token" } };
    expect(admit(loading, mine)).toMatchObject({ url: "https://a.example/cb?q=1", title: "" });
    expect(admit(updated(url, "history"), mine)).toMatchObject({ url: "https://a.example/cb?q=1" });
    expect(admit({ payload: { type: "page.content", tab_id: 4, url, title: "T", lang: "", text: "t", content_hash: "a".repeat(64) } }, mine)).toMatchObject({
      url: "https://a.example/cb?q=1",
    });
  });
});
