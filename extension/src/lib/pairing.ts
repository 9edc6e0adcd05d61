/**
 * "Connect to MindHit": pairing the extension with the dashboard without
 * copying a token.
 *
 * 1. `start` makes a PKCE pair (a random verifier, kept in the extension's
 *    state; its SHA-256 `challenge`) and returns the dashboard's pairing page
 *    URL with the challenge and a suggested device name.
 * 2. The signed-in user confirms the device name there; the dashboard stores a
 *    one-time code bound to the user, the device name and the challenge, and
 *    sends the tab to `{dashboard}/pair/done#code=…` (a fragment: never sent to
 *    a server, never in a Referer).
 * 3. The worker sees that URL in its tab (`onUrl`), and exchanges code and
 *    verifier at `POST {dashboard}/v1/pairing/exchange` for a new device token
 *    and the gateway's URL. The code works once, for two minutes, and only with
 *    this verifier: a code that reached the tab any other way is worthless.
 */
import type { Fetch } from "./sender";
import type { PendingPairing, Store } from "./store";

/** How long a started pairing waits for the user to confirm it. */
export const PAIRING_TTL_MS = 10 * 60_000;

/** What the dashboard hands over. */
export interface Paired {
  token: string;
  gatewayUrl: string;
  device: string;
  dashboardUrl: string;
  /** The dashboard's opaque identifier of the account ("" from a dashboard that sends none). */
  account: string;
}

export class PairingError extends Error {}

/** URL-safe base64 without padding. */
export function base64url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A PKCE verifier (32 random bytes) and its S256 challenge. */
export async function newPkce(random: (n: number) => Uint8Array): Promise<{ verifier: string; challenge: string }> {
  const verifier = base64url(random(32));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return { verifier, challenge: base64url(new Uint8Array(digest)) };
}

const base = (dashboardUrl: string): string => dashboardUrl.trim().replace(/\/+$/, "");

/** The dashboard's pairing page for `challenge`, suggesting `device` as the name. */
export function pairingPageUrl(dashboardUrl: string, challenge: string, device: string): string {
  const query = new URLSearchParams({ challenge, device });
  return `${base(dashboardUrl)}/pair?${query.toString()}`;
}

/** The one-time code when `url` is the dashboard's `/pair/done#code=…` page, else null. */
export function codeFromDoneUrl(url: string, dashboardUrl: string): string | null {
  try {
    const got = new URL(url);
    const home = new URL(`${base(dashboardUrl)}/`);
    if (got.origin !== home.origin || got.pathname !== `${home.pathname}pair/done`) return null;
    return new URLSearchParams(got.hash.slice(1)).get("code") || null;
  } catch {
    return null;
  }
}

/** Exchange a code for a device token; throws PairingError with a sentence for the popup. */
export async function exchangeCode(fetch: Fetch, dashboardUrl: string, code: string, verifier: string): Promise<Paired> {
  let res: Response;
  try {
    res = await fetch(`${base(dashboardUrl)}/v1/pairing/exchange`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ code, verifier }),
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new PairingError("the dashboard is unreachable");
  }
  const body = (await res.json().catch(() => ({}))) as {
    token?: unknown;
    gateway_url?: unknown;
    device?: unknown;
    account?: unknown;
    detail?: unknown;
  };
  if (!res.ok || typeof body.token !== "string") {
    throw new PairingError(typeof body.detail === "string" ? body.detail : `the dashboard answered ${res.status}`);
  }
  return {
    token: body.token,
    gatewayUrl: typeof body.gateway_url === "string" ? body.gateway_url : "",
    device: typeof body.device === "string" ? body.device : "",
    dashboardUrl: base(dashboardUrl),
    account: typeof body.account === "string" ? body.account : "",
  };
}

/**
 * Whose the events queued under this token are: the paired account (the same through
 * "sign out everywhere" and password changes, another one once its data was erased), else
 * (a pasted token, a dashboard that names no account) the token itself: the extension
 * cannot tell a pasted token's account, so events queued under it go with it only.
 */
export async function queueOwner(token: string, account: string): Promise<string> {
  if (account) return `account:${account}`;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
  return `token:${base64url(new Uint8Array(digest)).slice(0, 22)}`;
}

export interface PairingDeps {
  store: Store;
  fetch: Fetch;
  now: () => number;
  random: (n: number) => Uint8Array;
}

/** The pairing flow over the extension's state (one pairing at a time). */
export class Pairing {
  constructor(private readonly d: PairingDeps) {}

  /** Begin pairing with the dashboard at `dashboardUrl`; returns the page to open. */
  async start(dashboardUrl: string, device: string): Promise<string> {
    const url = base(dashboardUrl);
    if (!/^https?:\/\/[^/]/i.test(url)) throw new PairingError("enter the dashboard's URL (http:// or https://)");
    const { verifier, challenge } = await newPkce(this.d.random);
    const pending: PendingPairing = { verifier, dashboardUrl: url, expiresAt: this.d.now() + PAIRING_TTL_MS };
    await this.d.store.setPairing(pending);
    return pairingPageUrl(url, challenge, device);
  }

  /**
   * A tab showed `url`: when it is the pending pairing's done page, exchange its code.
   *
   * @returns the pairing, or null when `url` is not that page (or none is pending).
   */
  async onUrl(url: string): Promise<Paired | null> {
    if (!url.includes("/pair/done")) return null;
    const pending = await this.d.store.pairing();
    if (!pending) return null;
    const code = codeFromDoneUrl(url, pending.dashboardUrl);
    if (code === null) return null;
    if (pending.expiresAt < this.d.now()) {
      await this.d.store.setPairing(null);
      throw new PairingError("the pairing took too long; connect again");
    }
    // The verifier only ever goes to the dashboard it was made for. A failed exchange keeps
    // the pairing pending: a code planted in some tab must not cancel the user's own.
    const paired = await exchangeCode(this.d.fetch, pending.dashboardUrl, code, pending.verifier);
    await this.d.store.setPairing(null);
    return paired;
  }
}
