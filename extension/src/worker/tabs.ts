/**
 * Capture: the browser's tab, navigation, window and idle events become recorded
 * observations. Also the state a session starts from (the active tab of every
 * window, then the focused window). Listeners are registered by the worker's start-up
 * (synchronously, as MV3 requires).
 */
import { idlePayload } from "../lib/idle";
import type { Observed } from "../lib/recorder";
import { finishPairing } from "./pairing";
import { record } from "./recording";
import { currentIdleInterval } from "./settings";

export async function tabOrNull(tabId: number): Promise<chrome.tabs.Tab | null> {
  try {
    return await chrome.tabs.get(tabId);
  } catch {
    return null;
  }
}

export const urlOf = (tab: chrome.tabs.Tab): string => tab.url || tab.pendingUrl || "about:blank";

const lastUrl = new Map<number, string>();
const lastTitle = new Map<number, string>();
/** Navigations reported per tab (to know whether webNavigation saw a URL change). */
const navigations = new Map<number, number>();

/** The active tab of every window, then the focused window: the state a session starts from. */
export async function snapshot(): Promise<Observed[]> {
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

function onActivated({ tabId, windowId }: chrome.tabs.OnActivatedInfo): void {
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
}

function onUpdated(tabId: number, change: chrome.tabs.OnUpdatedInfo, tab: chrome.tabs.Tab): void {
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
}

function onReplaced(addedTabId: number, removedTabId: number): void {
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
}

function onRemoved(tabId: number, info: chrome.tabs.OnRemovedInfo): void {
  lastUrl.delete(tabId);
  lastTitle.delete(tabId);
  navigations.delete(tabId);
  record(Date.now(), () => ({ payload: { type: "tab.removed", tab_id: tabId, window_id: info.windowId } }));
}

function onFocusChanged(windowId: number): void {
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
}

/** chrome.idle's handler; also reachable as `self.mindhit.idle(state)` for the e2e test. */
export function onIdleState(state: "active" | "idle" | "locked"): void {
  const interval = currentIdleInterval(); // the one in force when chrome reported
  record(Date.now(), async () => ({ payload: idlePayload(state, await interval) }));
}

/** Listen to the browser's tab, navigation, window and idle events. */
export function registerCapture(): void {
  chrome.tabs.onActivated.addListener(onActivated);
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
  chrome.tabs.onUpdated.addListener(onUpdated);
  chrome.tabs.onReplaced.addListener(onReplaced);
  chrome.tabs.onRemoved.addListener(onRemoved);
  chrome.windows.onFocusChanged.addListener(onFocusChanged);
  chrome.idle.onStateChanged.addListener(onIdleState);
}
