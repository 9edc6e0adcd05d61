/**
 * The device token: typed in (sign in) or paired ("Connect to MindHit": the
 * dashboard's pairing page leads to a done page the worker recognises and trades
 * for a token and the account's identifier), checked with the gateway, then
 * uploads resume. What was queued for another account is deleted then: the
 * queue goes to the account it was recorded for, or nowhere.
 */
import { Pairing, PairingError, queueOwner } from "../lib/pairing";
import { uuidv7 } from "../lib/uuid";
import { recorderReady } from "./recording";
import { syncRemoteSettings } from "./settings";
import { log, queueReady, store } from "./state";
import { flush } from "./upload";

const pairing = new Pairing({
  store,
  fetch: (url, init) => fetch(url, init),
  now: () => Date.now(),
  random: (n) => crypto.getRandomValues(new Uint8Array(n)),
});

/** Check a token with an empty batch: 202 = good, 401/403 = refused. */
async function verifyToken(gatewayUrl: string, token: string): Promise<string> {
  const clientId = await store.clientId(() => uuidv7(Date.now()));
  try {
    const res = await fetch(`${gatewayUrl.replace(/\/+$/, "")}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ batch_id: uuidv7(Date.now()), client_id: clientId, events: [] }),
    });
    if (res.status === 401 || res.status === 403) return "token refused by the gateway";
    if (res.ok) return "signed in";
    return `signed in; the gateway answered ${res.status}`;
  } catch {
    return "saved; the gateway is unreachable right now";
  }
}

/**
 * Store a token (typed, or paired with `account`), check it with the gateway, pull the
 * account's settings. Unless the gateway refused the token, what is queued for another
 * account is deleted (the uploader never sends it anyway) and what was queued before any
 * pairing becomes this account's; a session still running for another account ends. The
 * config, the queue and the session change in one step of the recorder, so nothing the
 * browser reports meanwhile is stamped with the new account inside the old session.
 */
export async function signIn(gatewayUrl: string, token: string, dashboardUrl: string, account = ""): Promise<string> {
  token = token.trim();
  const owner = token ? await queueOwner(token, account) : (await store.config()).account;
  let outcome = await verifyToken(gatewayUrl.trim(), token);
  const refused = outcome.startsWith("token refused");
  const config = { gatewayUrl: gatewayUrl.trim(), token, dashboardUrl: dashboardUrl.trim(), account: owner };
  const { deleted, sessionEnded } = await (await recorderReady).switchAccount(config, Boolean(token) && !refused);
  if (deleted > 0) {
    log("deleted events queued for another account", deleted);
    outcome += `; ${deleted} queued event(s) of another account deleted`;
  }
  if (sessionEnded) outcome += "; the previous account's session ended";
  await store.updateStatus({ authError: refused, lastError: refused ? "sign in again" : "" });
  if (!refused) void flush();
  await syncRemoteSettings(true);
  return outcome;
}

/**
 * A version before accounts left a token without an account: its events queued so far
 * are that token's (as the uploader sent them before), and so is what it records now.
 */
export async function adoptLegacyQueue(): Promise<void> {
  const config = await store.config();
  if (!config.token || config.account) return;
  const owner = await queueOwner(config.token, "");
  await store.setConfig({ account: owner });
  await (await queueReady).switchAccount(owner);
}

const OS_NAMES: Record<string, string> = { mac: "macOS", win: "Windows", linux: "Linux", cros: "ChromeOS", android: "Android" };

/** "Connect to MindHit": open the dashboard's pairing page (the rest happens in finishPairing). */
export async function startPairing(dashboardUrl: string): Promise<string> {
  const os = await chrome.runtime.getPlatformInfo().then((p) => OS_NAMES[p.os] ?? p.os, () => "");
  try {
    const url = await pairing.start(dashboardUrl, os ? `Chrome on ${os}` : "Chrome");
    await store.updateStatus({ pairing: "confirm the device name in the dashboard tab" });
    await chrome.tabs.create({ url });
    return "confirm in the dashboard tab that opened";
  } catch (err) {
    const reason = err instanceof PairingError ? err.message : String(err);
    await store.updateStatus({ pairing: `connecting failed: ${reason}` });
    return reason;
  }
}

/** A tab showed `url`: when it is the pending pairing's done page, take the token it leads to. */
export async function finishPairing(tabId: number, url: string): Promise<void> {
  try {
    const paired = await pairing.onUrl(url);
    if (!paired) return;
    const gatewayUrl = paired.gatewayUrl || (await store.config()).gatewayUrl;
    const outcome = await signIn(gatewayUrl, paired.token, paired.dashboardUrl, paired.account);
    await store.updateStatus({ pairing: `connected as "${paired.device}" (${outcome})` });
    log("paired", paired.device);
    await chrome.tabs.remove(tabId).catch(() => undefined);
  } catch (err) {
    const reason = err instanceof PairingError ? err.message : String(err);
    await store.updateStatus({ pairing: `connecting failed: ${reason}` });
    log("pairing failed", reason);
  }
}
