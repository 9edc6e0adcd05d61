/**
 * The service worker: wires the browser's events to the recorder, the queue
 * and the uploader, and answers the popup and the content script.
 *
 * Everything that must survive the worker being stopped lives in the extension
 * origin's IndexedDB: the queue (seq, in-flight batch) and the state (config
 * with the device token, session, status; see lib/kv.ts for why not
 * chrome.storage, which content scripts can read).
 * Listeners are registered synchronously at start-up, as MV3 requires; an
 * alarm every 30 s restarts uploading after the worker was stopped, and a
 * 5 s timer (or 200 queued events) triggers it while the worker runs.
 */
import type { ClientEvent } from "./generated/contract";
import { isBlocked, parseBlockList } from "./lib/blocklist";
import { detectionIntervalS, idlePayload } from "./lib/idle";
import { IdbKV, deferredKV, migrateLegacy } from "./lib/kv";
import { Pairing, PairingError } from "./lib/pairing";
import { EventQueue } from "./lib/queue";
import { type Observed, Recorder } from "./lib/recorder";
import { fetchRemoteSettings } from "./lib/remote";
import { FlushScheduler } from "./lib/scheduler";
import { Uploader } from "./lib/sender";
import { Store } from "./lib/store";
import { isPageUrl, parseSecretParams } from "./lib/urls";
import { uuidv7 } from "./lib/uuid";
import type { ContentMessage, PopupMessage, ProbeAnswer, StatusView, WorkerMessage } from "./messages";

const FLUSH_ALARM = "mindhit-flush";
const RESUME_ALARM = "mindhit-resume";

function log(msg: string, data?: unknown): void {
  console.info(`[mindhit] ${msg}`, data ?? "");
}

const stateReady = IdbKV.open(indexedDB).then(async (kv) => {
  const moved = await migrateLegacy(chrome.storage.local, kv);
  if (moved.length) log("state moved out of chrome.storage.local", moved);
  return kv;
});
const store = new Store(deferredKV(stateReady));
const pairing = new Pairing({
  store,
  fetch: (url, init) => fetch(url, init),
  now: () => Date.now(),
  random: (n) => crypto.getRandomValues(new Uint8Array(n)),
});
const queueReady = EventQueue.open(indexedDB);
const scheduler = new FlushScheduler(async () => (await uploaderReady).pump(), {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
});

async function flush(): Promise<void> {
  await scheduler.run();
}

function onStored(events: ClientEvent[]): void {
  if (events.length === 0) return;
  void queueReady.then(async (q) => scheduler.stored((await q.stats()).count));
}

const recorderReady = queueReady.then(
  (queue) =>
    new Recorder({ queue, store, now: () => Date.now(), newId: (ms) => uuidv7(ms), onStored, log }),
);
const uploaderReady = queueReady.then(
  (queue) =>
    new Uploader({
      queue,
      store,
      fetch: (url, init) => fetch(url, init),
      now: () => Date.now(),
      random: () => Math.random(),
      newId: () => uuidv7(Date.now()),
      log,
    }),
);

/** Record an observation made at `ts` (serialised, in call order). */
function record(ts: number, observe: () => Promise<Observed | null> | Observed | null): void {
  void recorderReady.then((r) => r.submit(ts, observe));
}

async function tabOrNull(tabId: number): Promise<chrome.tabs.Tab | null> {
  try {
    return await chrome.tabs.get(tabId);
  } catch {
    return null;
  }
}

const urlOf = (tab: chrome.tabs.Tab): string => tab.url || tab.pendingUrl || "about:blank";

/** The active tab of every window, then the focused window: the state a session starts from. */
async function snapshot(): Promise<Observed[]> {
  const windows = await chrome.windows.getAll({ populate: true, windowTypes: ["normal"] });
  const ordered = [...windows.filter((w) => !w.focused), ...windows.filter((w) => w.focused)];
  const out: Observed[] = [];
  for (const w of ordered) {
    const tab = w.tabs?.find((t) => t.active);
    if (!tab || tab.id === undefined || w.id === undefined) continue;
    const url = urlOf(tab);
    lastUrl.set(tab.id, url);
    out.push({
      incognito: w.incognito,
      payload: { type: "tab.activated", tab_id: tab.id, window_id: w.id, url, title: tab.title ?? "" },
    });
  }
  const focused = windows.find((w) => w.focused && !w.incognito);
  out.push({
    payload: { type: "window.focus", focused: focused !== undefined, window_id: focused?.id ?? -1 },
  });
  return out;
}

// ---- capture --------------------------------------------------------------

const lastUrl = new Map<number, string>();
const lastTitle = new Map<number, string>();
/** Navigations reported per tab (to know whether webNavigation saw a URL change). */
const navigations = new Map<number, number>();

function recordNavigation(tabId: number, url: string, ts: number, change: "url" | "history"): void {
  navigations.set(tabId, (navigations.get(tabId) ?? 0) + 1);
  if (lastUrl.get(tabId) === url) return;
  lastUrl.set(tabId, url);
  record(ts, async () => {
    const tab = await tabOrNull(tabId);
    if (!tab) return null;
    return {
      incognito: tab.incognito,
      payload: { type: "tab.updated", tab_id: tabId, window_id: tab.windowId, url, title: tab.title ?? "", change },
    };
  });
  if (change === "history") {
    // A single-page app changed its content: read the page again once it settled.
    setTimeout(() => {
      chrome.tabs.sendMessage(tabId, { kind: "extract" }).catch(() => undefined);
    }, 1_500);
  }
}

chrome.tabs.onActivated.addListener(({ tabId, windowId }) => {
  record(Date.now(), async () => {
    const tab = await tabOrNull(tabId);
    if (!tab) return null;
    const url = urlOf(tab);
    lastUrl.set(tabId, url);
    return {
      incognito: tab.incognito,
      payload: { type: "tab.activated", tab_id: tabId, window_id: windowId, url, title: tab.title ?? "" },
    };
  });
});

chrome.webNavigation.onCommitted.addListener((d) => {
  if (d.frameId !== 0 || d.tabId < 0) return;
  if ((d as { documentLifecycle?: string }).documentLifecycle === "prerender") return;
  recordNavigation(d.tabId, d.url, Math.round(d.timeStamp), "url");
});
chrome.webNavigation.onHistoryStateUpdated.addListener((d) => {
  if (d.frameId === 0 && d.tabId >= 0) recordNavigation(d.tabId, d.url, Math.round(d.timeStamp), "history");
});
chrome.webNavigation.onReferenceFragmentUpdated.addListener((d) => {
  if (d.frameId === 0 && d.tabId >= 0) recordNavigation(d.tabId, d.url, Math.round(d.timeStamp), "history");
});

chrome.tabs.onUpdated.addListener((tabId, change, tab) => {
  const ts = Date.now();
  const url = change.url;
  if (url !== undefined) void finishPairing(tabId, url);
  if (url !== undefined && url !== lastUrl.get(tabId)) {
    if (!url.startsWith("http")) {
      // Non-web pages (new tab, about:) have no webNavigation commit.
      recordNavigation(tabId, url, ts, "url");
    } else {
      // Web pages are recorded from webNavigation (which tells a navigation from an SPA
      // history change). A URL change it never reports, such as a prerendered page being
      // shown, is caught here once webNavigation had its chance.
      const seen = navigations.get(tabId) ?? 0;
      setTimeout(() => {
        if ((navigations.get(tabId) ?? 0) === seen && lastUrl.get(tabId) !== url) {
          recordNavigation(tabId, url, ts, "url");
        }
      }, 150);
    }
  }
  if (change.title !== undefined && change.title !== lastTitle.get(tabId)) {
    lastTitle.set(tabId, change.title);
    const title = change.title;
    record(ts, () => ({
      incognito: tab.incognito,
      payload: { type: "tab.updated", tab_id: tabId, window_id: tab.windowId, url: urlOf(tab), title, change: "title" },
    }));
  }
  if (change.audible !== undefined) {
    const audible = change.audible;
    record(ts, () => ({
      incognito: tab.incognito,
      tabUrl: urlOf(tab),
      payload: { type: "media.state", tab_id: tabId, window_id: tab.windowId, audible, playing: audible },
    }));
  }
});

chrome.tabs.onReplaced.addListener((addedTabId, removedTabId) => {
  const ts = Date.now();
  record(ts, () => ({ payload: { type: "tab.removed", tab_id: removedTabId } }));
  record(ts, async () => {
    const tab = await tabOrNull(addedTabId);
    if (!tab) return null;
    lastUrl.set(addedTabId, urlOf(tab));
    return {
      incognito: tab.incognito,
      payload: { type: tab.active ? "tab.activated" : "tab.updated", tab_id: addedTabId, window_id: tab.windowId, url: urlOf(tab), title: tab.title ?? "" },
    };
  });
});

chrome.tabs.onRemoved.addListener((tabId, info) => {
  lastUrl.delete(tabId);
  lastTitle.delete(tabId);
  navigations.delete(tabId);
  record(Date.now(), () => ({ payload: { type: "tab.removed", tab_id: tabId, window_id: info.windowId } }));
});

chrome.windows.onFocusChanged.addListener((windowId) => {
  const ts = Date.now();
  record(ts, async () => {
    if (windowId === chrome.windows.WINDOW_ID_NONE) {
      return { payload: { type: "window.focus", focused: false, window_id: -1 } };
    }
    const win = await chrome.windows.get(windowId).catch(() => null);
    if (!win || win.incognito) {
      // A private window looks like leaving the browser: nothing about it is recorded.
      return { payload: { type: "window.focus", focused: false, window_id: -1 } };
    }
    return { payload: { type: "window.focus", focused: true, window_id: windowId } };
  });
});

/**
 * The detection interval last given to chrome.idle (seconds): how long the user had
 * been inactive when it reports `idle`. 0 until known (the processors then take the
 * report's time as the start of idle).
 */
let idleInterval: Promise<number> = Promise.resolve(0);

/** chrome.idle's handler; also reachable as `self.mindhit.idle(state)` for the e2e test. */
function onIdleState(state: "active" | "idle" | "locked"): void {
  const interval = idleInterval; // the one in force when chrome reported
  record(Date.now(), async () => ({ payload: idlePayload(state, await interval) }));
}
chrome.idle.onStateChanged.addListener(onIdleState);

async function setDetectionInterval(): Promise<number> {
  const { idleThresholdS } = await store.effective();
  const interval = detectionIntervalS(idleThresholdS);
  chrome.idle.setDetectionInterval(interval);
  return interval;
}

async function applyIdleThreshold(): Promise<void> {
  const applying = setDetectionInterval(); // assigned before the first await (see startUp)
  idleInterval = applying.catch(() => 0);
  await applying;
}

const REMOTE_EVERY_MS = 5 * 60_000;
let remoteTriedAt = 0;

/** Pull the account's settings from the dashboard (at most every 5 min unless forced). */
async function syncRemoteSettings(force = false): Promise<void> {
  const now = Date.now();
  if (!force && now - remoteTriedAt < REMOTE_EVERY_MS) return;
  remoteTriedAt = now;
  const { dashboardUrl } = await store.config();
  const remote = await fetchRemoteSettings((url, init) => fetch(url, init), dashboardUrl, now);
  if (remote) {
    await store.setRemote(remote);
    await applyIdleThreshold();
  }
}

/** Pages loaded before recording began have not been read yet: ask their content scripts. */
async function extractOpenPages(): Promise<void> {
  const tabs = await chrome.tabs.query({ url: ["http://*/*", "https://*/*"] });
  for (const tab of tabs) {
    if (tab.id !== undefined && !tab.incognito) {
      chrome.tabs.sendMessage(tab.id, { kind: "extract" }).catch(() => undefined);
    }
  }
}

// ---- messages -------------------------------------------------------------

async function statusView(message?: string): Promise<StatusView> {
  const [config, effective, session, pausedUntil, status, stats] = await Promise.all([
    store.config(),
    store.effective(),
    store.session(),
    store.pausedUntil(),
    store.status(),
    queueReady.then((q) => q.stats()),
  ]);
  return {
    signedIn: config.token !== "",
    gatewayUrl: config.gatewayUrl,
    dashboardUrl: config.dashboardUrl,
    recording: session !== null && pausedUntil <= Date.now(),
    sessionLabel: session?.label ?? "",
    sessionStartedAt: session?.startedAt ?? null,
    pausedUntil: pausedUntil > Date.now() ? pausedUntil : 0,
    queued: stats.count,
    inflight: stats.inflight,
    droppedEvents: stats.droppedEvents,
    droppedTexts: stats.droppedTexts,
    lastUploadAt: status.lastUploadAt,
    lastError: status.lastError,
    authError: status.authError,
    nextRetryAt: status.nextRetryAt,
    blockedDomains: config.blockedDomains,
    idleThresholdS: config.idleThresholdS,
    secretParams: config.secretParams,
    pairing: status.pairing,
    remoteBlockedDomains: effective.remote?.blockedDomains ?? [],
    remoteIdleThresholdS: effective.remote?.idleThresholdS ?? null,
    remoteFetchedAt: effective.remote?.fetchedAt ?? null,
    ...(message === undefined ? {} : { message }),
  };
}

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

/** Store a token (typed or paired), check it with the gateway, pull the account's settings. */
async function signIn(gatewayUrl: string, token: string, dashboardUrl: string): Promise<string> {
  await store.setConfig({ gatewayUrl: gatewayUrl.trim(), token: token.trim(), dashboardUrl: dashboardUrl.trim() });
  const outcome = await verifyToken(gatewayUrl.trim(), token.trim());
  const refused = outcome.startsWith("token refused");
  await store.updateStatus({ authError: refused, lastError: refused ? "sign in again" : "" });
  if (!refused) void flush();
  await syncRemoteSettings(true);
  return outcome;
}

const OS_NAMES: Record<string, string> = { mac: "macOS", win: "Windows", linux: "Linux", cros: "ChromeOS", android: "Android" };

/** "Connect to MindHit": open the dashboard's pairing page (the rest happens in finishPairing). */
async function startPairing(dashboardUrl: string): Promise<string> {
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
async function finishPairing(tabId: number, url: string): Promise<void> {
  try {
    const paired = await pairing.onUrl(url);
    if (!paired) return;
    const gatewayUrl = paired.gatewayUrl || (await store.config()).gatewayUrl;
    const outcome = await signIn(gatewayUrl, paired.token, paired.dashboardUrl);
    await store.updateStatus({ pairing: `connected as "${paired.device}" (${outcome})` });
    log("paired", paired.device);
    await chrome.tabs.remove(tabId).catch(() => undefined);
  } catch (err) {
    const reason = err instanceof PairingError ? err.message : String(err);
    await store.updateStatus({ pairing: `connecting failed: ${reason}` });
    log("pairing failed", reason);
  }
}

async function onPopup(msg: PopupMessage): Promise<StatusView> {
  const recorder = await recorderReady;
  switch (msg.kind) {
    case "status":
      return statusView();
    case "signIn":
      return statusView(await signIn(msg.gatewayUrl, msg.token, msg.dashboardUrl));
    case "pair":
      return statusView(await startPairing(msg.dashboardUrl));
    case "signOut":
      await store.setConfig({ token: "" });
      await store.setRemote(null);
      await store.updateStatus({ pairing: "" });
      return statusView("signed out; events stay queued until you sign in again");
    case "start":
      await recorder.startSession(msg.label, snapshot);
      void extractOpenPages();
      return statusView("recording");
    case "stop":
      await recorder.stopSession();
      void flush();
      return statusView("session stopped");
    case "pause": {
      const until = await recorder.pause(msg.minutes);
      await chrome.alarms.create(RESUME_ALARM, { when: until });
      return statusView(`paused for ${msg.minutes} min`);
    }
    case "resume":
      await chrome.alarms.clear(RESUME_ALARM);
      await recorder.resume(snapshot);
      void extractOpenPages();
      return statusView("recording");
    case "settings":
      await store.setConfig({
        blockedDomains: parseBlockList(msg.blockedDomains),
        idleThresholdS: Math.max(15, Math.round(msg.idleThresholdS || 60)),
        secretParams: parseSecretParams(msg.secretParams),
      });
      await syncRemoteSettings(true);
      await applyIdleThreshold();
      return statusView("settings saved");
    case "flush":
      await flush();
      return statusView();
  }
}

/**
 * The URL a page's text belongs to: the one the content script read it at. After an SPA's
 * `history.pushState` that is the new route, while `sender.url` may still be the URL the
 * document loaded at. A script can change the path but never the origin, so a claimed URL
 * of another origin than the sender's is refused.
 */
function contentUrl(msg: ContentMessage, sender: chrome.runtime.MessageSender): string | null {
  try {
    const claimed = new URL(msg.url);
    const loaded = new URL(sender.url ?? sender.tab?.url ?? "");
    return claimed.origin === loaded.origin ? claimed.href : null;
  } catch {
    return null;
  }
}

function onContent(msg: ContentMessage, sender: chrome.runtime.MessageSender): void {
  const tab = sender.tab;
  const url = contentUrl(msg, sender);
  if (!tab || tab.id === undefined || url === null) return;
  const tabId = tab.id;
  record(Date.now(), () => ({
    incognito: tab.incognito,
    payload: {
      type: "page.content",
      tab_id: tabId,
      url,
      title: msg.title,
      lang: msg.lang,
      text: msg.text,
      content_hash: msg.contentHash,
    },
  }));
}

async function onMessage(msg: WorkerMessage, sender: chrome.runtime.MessageSender): Promise<unknown> {
  if (msg.kind === "probe") {
    const [config, session, pausedUntil] = await Promise.all([store.effective(), store.session(), store.pausedUntil()]);
    const answer: ProbeAnswer = {
      extract:
        session !== null &&
        pausedUntil <= Date.now() &&
        !sender.tab?.incognito &&
        isPageUrl(msg.url) &&
        !isBlocked(msg.url, config.blockedDomains),
      cap: config.textCap,
    };
    return answer;
  }
  if (msg.kind === "content") {
    onContent(msg, sender);
    return undefined;
  }
  if (msg.kind === "media") {
    const tab = sender.tab;
    if (tab?.id === undefined) return undefined;
    const tabId = tab.id;
    record(Date.now(), () => ({
      incognito: tab.incognito,
      tabUrl: urlOf(tab),
      payload: { type: "media.state", tab_id: tabId, window_id: tab.windowId, audible: tab.audible ?? false, playing: msg.playing },
    }));
    return undefined;
  }
  // Commands come only from the extension's own pages (the popup), never from a web page.
  if (sender.id !== chrome.runtime.id || !sender.url?.startsWith(chrome.runtime.getURL(""))) return undefined;
  return onPopup(msg);
}

chrome.runtime.onMessage.addListener((msg: WorkerMessage, sender, sendResponse) => {
  onMessage(msg, sender).then(sendResponse, (err: unknown) => {
    log("message failed", String(err));
    sendResponse({ error: String(err) });
  });
  return true;
});

// ---- restarts -------------------------------------------------------------

chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === FLUSH_ALARM) {
    void flush();
    void syncRemoteSettings();
  }
  if (alarm.name === RESUME_ALARM) {
    void recorderReady.then((r) => r.resume(snapshot)).then(extractOpenPages);
  }
});

async function startUp(): Promise<void> {
  // First, synchronously: chrome.idle reports reaching a restarted worker find the interval.
  const idleApplied = applyIdleThreshold();
  if (!(await chrome.alarms.get(FLUSH_ALARM))) {
    await chrome.alarms.create(FLUSH_ALARM, { periodInMinutes: 0.5 });
  }
  await idleApplied;
  void syncRemoteSettings();
  const pausedUntil = await store.pausedUntil();
  if (pausedUntil > 0 && pausedUntil <= Date.now()) await (await recorderReady).resume(snapshot);
  await flush(); // a batch left in flight by a stopped worker goes out again, same batch_id
}
void startUp();

/** Hooks for the end-to-end test (see README: "Testing"). */
(globalThis as unknown as { mindhit: unknown }).mindhit = {
  idle: onIdleState,
  command: onPopup,
  flush,
  stats: async () => (await queueReady).stats(),
  status: () => statusView(),
  clientId: () => store.clientId(() => uuidv7(Date.now())),
};
