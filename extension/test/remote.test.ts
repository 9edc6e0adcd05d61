import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { fetchRemoteSettings } from "../src/lib/remote";
import { BLOCKED_URL } from "../src/lib/urls";
import { Recorder } from "../src/lib/recorder";
import { MemoryKV, Store } from "../src/lib/store";
import { uuidv7 } from "../src/lib/uuid";
import type { ClientEvent } from "../src/generated/contract";
import { freshQueue } from "./helpers";

const servers: Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

/** A dashboard answering GET /v1/settings with `status` and `body`, recording the cookie it got. */
async function dashboard(status: number, body: unknown): Promise<{ url: string; cookies: (string | undefined)[] }> {
  const cookies: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    cookies.push(req.headers.cookie);
    if (req.url !== "/v1/settings") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, cookies };
}

const nodeFetch = (url: string, init: RequestInit) => fetch(url, init);

describe("dashboard settings", () => {
  it("reads the account's block list and idle threshold", async () => {
    const d = await dashboard(200, { blocked_domains: ["Bank.Example", "mail.example.org"], idle_threshold_s: 120, email_reports: false });
    expect(await fetchRemoteSettings(nodeFetch, d.url, 7)).toEqual({
      blockedDomains: ["bank.example", "mail.example.org"],
      idleThresholdS: 120,
      fetchedAt: 7,
    });
  });

  it("changes nothing when the user is not signed in there, or the answer is not settings", async () => {
    expect(await fetchRemoteSettings(nodeFetch, (await dashboard(401, { detail: "sign in" })).url, 1)).toBeNull();
    expect(await fetchRemoteSettings(nodeFetch, (await dashboard(200, { hello: 1 })).url, 1)).toBeNull();
    expect(await fetchRemoteSettings(nodeFetch, "http://127.0.0.1:9/", 1)).toBeNull();
    expect(await fetchRemoteSettings(nodeFetch, "", 1)).toBeNull();
  });

  it("applies the dashboard's block list on top of the local one before storing", async () => {
    const { queue } = await freshQueue();
    const store = new Store(new MemoryKV());
    await store.setConfig({ blockedDomains: ["local.example"], idleThresholdS: 60 });
    await store.setRemote({ blockedDomains: ["remote.example"], idleThresholdS: 300, fetchedAt: 1 });
    const effective = await store.effective();
    expect(effective.blockedDomains.sort()).toEqual(["local.example", "remote.example"]);
    expect(effective.idleThresholdS).toBe(300);
    const stored: ClientEvent[] = [];
    const recorder = new Recorder({ queue, store, now: () => 10, newId: (ms) => uuidv7(ms), onStored: (e) => stored.push(...e), log: () => undefined });
    await recorder.startSession("", async () => []);
    for (const url of ["https://www.remote.example/x", "https://local.example/", "https://fine.example/"]) {
      await recorder.submit(11, () => ({ payload: { type: "tab.activated", tab_id: 1, window_id: 1, url, title: "t" } }));
    }
    expect(stored.slice(1).map((e) => ("url" in e ? e.url : ""))).toEqual([BLOCKED_URL, BLOCKED_URL, "https://fine.example/"]);
  });
});
