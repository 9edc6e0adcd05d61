/** "Connect to MindHit": PKCE, the done page's code, and the exchange against a local HTTP dashboard. */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Pairing, PairingError, base64url, codeFromDoneUrl, newPkce, pairingPageUrl } from "../src/lib/pairing";
import { MemoryKV, Store } from "../src/lib/store";

const servers: Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

const nodeFetch = (url: string, init: RequestInit) => fetch(url, init);
const random = (n: number) => new Uint8Array(randomBytes(n));

/** A dashboard that issued `code` for `challenge`: the exchange answers a token once, for the right verifier. */
async function dashboard(code: string, challenge: () => string): Promise<{ url: string; bodies: unknown[] }> {
  const bodies: unknown[] = [];
  let used = false;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || "{}") as { code: string; verifier: string };
      bodies.push(body);
      const s256 = createHash("sha256").update(body.verifier).digest("base64url");
      const ok = req.url === "/v1/pairing/exchange" && !used && body.code === code && s256 === challenge();
      if (body.code === code) used = true;
      res.writeHead(ok ? 200 : 400, { "content-type": "application/json" });
      res.end(JSON.stringify(ok ? { token: "mh_tok", gateway_url: "http://gw.example", device: "laptop", account: "acct-1" } : { detail: "This code is not valid (any more)." }));
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies };
}

describe("pairing URLs", () => {
  it("makes an S256 challenge of a 43-character verifier", async () => {
    const { verifier, challenge } = await newPkce(random);
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(challenge).toBe(createHash("sha256").update(verifier).digest("base64url"));
    expect(base64url(new Uint8Array([251, 255]))).toBe("-_8");
  });

  it("opens the dashboard's pairing page and reads the code only from its done page", () => {
    expect(pairingPageUrl("https://mh.example/app/", "abc", "Chrome on Linux")).toBe(
      "https://mh.example/app/pair?challenge=abc&device=Chrome+on+Linux",
    );
    const dash = "https://mh.example/app";
    expect(codeFromDoneUrl("https://mh.example/app/pair/done#code=XYZ", dash)).toBe("XYZ");
    expect(codeFromDoneUrl("https://evil.example/app/pair/done#code=XYZ", dash)).toBeNull();
    expect(codeFromDoneUrl("https://mh.example/pair/done#code=XYZ", dash)).toBeNull();
    expect(codeFromDoneUrl("https://mh.example/app/pair/done", dash)).toBeNull();
    expect(codeFromDoneUrl("not a url", dash)).toBeNull();
  });
});

describe("Pairing", () => {
  it("exchanges the done page's code with its verifier, once", async () => {
    const store = new Store(new MemoryKV());
    let challenge = "";
    const d = await dashboard("CODE1", () => challenge);
    const pairing = new Pairing({ store, fetch: nodeFetch, now: () => 1_000, random });
    const page = new URL(await pairing.start(`${d.url}/`, "laptop"));
    challenge = page.searchParams.get("challenge")!;
    expect(page.pathname).toBe("/pair");
    expect(await pairing.onUrl(`${d.url}/sessions`)).toBeNull();
    expect(await pairing.onUrl(`${d.url}/pair/done#code=CODE1`)).toEqual({
      token: "mh_tok",
      gatewayUrl: "http://gw.example",
      device: "laptop",
      dashboardUrl: d.url,
      account: "acct-1",
    });
    expect(await store.pairing()).toBeNull();
    expect(await pairing.onUrl(`${d.url}/pair/done#code=CODE1`)).toBeNull(); // nothing pending any more
  });

  it("keeps the user's pairing when a planted code fails, and refuses a late one", async () => {
    const store = new Store(new MemoryKV());
    let now = 0;
    const d = await dashboard("REAL", () => "someone-else's challenge");
    const pairing = new Pairing({ store, fetch: nodeFetch, now: () => now, random });
    await pairing.start(d.url, "laptop");
    await expect(pairing.onUrl(`${d.url}/pair/done#code=PLANTED`)).rejects.toThrow("not valid");
    expect(await store.pairing()).not.toBeNull();
    now = 11 * 60_000;
    await expect(pairing.onUrl(`${d.url}/pair/done#code=REAL`)).rejects.toBeInstanceOf(PairingError);
    expect(await store.pairing()).toBeNull();
    await expect(pairing.start("javascript:alert(1)", "x")).rejects.toThrow("dashboard's URL");
  });
});
