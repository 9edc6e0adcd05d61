/** The extension's state lives in its own origin's IndexedDB; state from chrome.storage.local moves there once. */
import "fake-indexeddb/auto";
import { describe, expect, it } from "vitest";
import { IdbKV, deferredKV, migrateLegacy } from "../src/lib/kv";
import { Store } from "../src/lib/store";

const dbName = () => `state-${Math.random()}`;

describe("IdbKV", () => {
  it("keeps the configuration (token included) across a reopen", async () => {
    const name = dbName();
    const store = new Store(await IdbKV.open(indexedDB, name));
    await store.setConfig({ token: "mh_secret", gatewayUrl: "https://gw.example" });
    const again = new Store(await IdbKV.open(indexedDB, name));
    expect(await again.config()).toMatchObject({ token: "mh_secret", gatewayUrl: "https://gw.example" });
  });

  it("moves state left in chrome.storage.local and clears it there", async () => {
    const legacy = new Map<string, unknown>([
      ["config", { token: "mh_old", gatewayUrl: "http://old" }],
      ["clientId", "c-1"],
      ["unrelated", 1],
    ]);
    const area = {
      get: async () => Object.fromEntries(legacy),
      clear: async () => legacy.clear(),
    };
    const kv = await IdbKV.open(indexedDB, dbName());
    await kv.set({ clientId: "c-new" }); // what the new store already has wins
    const store = new Store(deferredKV(migrateLegacy(area, kv).then(() => kv)));
    expect((await store.config()).token).toBe("mh_old");
    expect(await store.clientId(() => "x")).toBe("c-new");
    expect(legacy.size).toBe(0);
    expect(await migrateLegacy(area, kv)).toEqual([]);
  });
});
