/**
 * Answers the popup (status and commands, from the extension's own pages only) and
 * the content script (may this page be read; the text it read; media state).
 */
import type { ContentMessage, PopupMessage, ProbeAnswer, StatusView, WorkerMessage } from "../messages";
import { isBlocked, parseBlockList } from "../lib/blocklist";
import { isPageUrl, parseSecretParams } from "../lib/urls";
import { signIn, startPairing } from "./pairing";
import { extractOpenPages, record, recorderReady } from "./recording";
import { applyIdleThreshold, syncRemoteSettings } from "./settings";
import { log, queueReady, store } from "./state";
import { snapshot, urlOf } from "./tabs";
import { flush } from "./upload";

/** The alarm that ends a pause. */
export const RESUME_ALARM = "mindhit-resume";

export async function statusView(message?: string): Promise<StatusView> {
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
    sessionEnded: session === null ? status.sessionEnded : "",
    sessionContinued: session === null ? "" : status.sessionContinued,
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

export async function onPopup(msg: PopupMessage): Promise<StatusView> {
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
      return statusView(
        "signed out; queued events wait for this account (connecting another account deletes them)",
      );
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

/** Answer every message (asynchronously: the listener keeps the channel open). */
export function registerMessages(): void {
  chrome.runtime.onMessage.addListener((msg: WorkerMessage, sender, sendResponse) => {
    onMessage(msg, sender).then(sendResponse, (err: unknown) => {
      log("message failed", String(err));
      sendResponse({ error: String(err) });
    });
    return true;
  });
}
