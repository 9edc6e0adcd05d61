/**
 * Settings that act on the browser: the idle detection interval given to
 * chrome.idle, and the account's settings pulled from the dashboard.
 */
import { detectionIntervalS } from "../lib/idle";
import { fetchRemoteSettings } from "../lib/remote";
import { store } from "./state";

/**
 * The detection interval last given to chrome.idle (seconds): how long the user had
 * been inactive when it reports `idle`. 0 until known (the processors then take the
 * report's time as the start of idle).
 */
let idleInterval: Promise<number> = Promise.resolve(0);

/** The interval in force now (what a report arriving now was measured with). */
export function currentIdleInterval(): Promise<number> {
  return idleInterval;
}

async function setDetectionInterval(): Promise<number> {
  const { idleThresholdS } = await store.effective();
  const interval = detectionIntervalS(idleThresholdS);
  chrome.idle.setDetectionInterval(interval);
  return interval;
}

export async function applyIdleThreshold(): Promise<void> {
  const applying = setDetectionInterval(); // assigned before the first await (see startUp)
  idleInterval = applying.catch(() => 0);
  await applying;
}

const REMOTE_EVERY_MS = 5 * 60_000;
let remoteTriedAt = 0;

/** Pull the account's settings from the dashboard (at most every 5 min unless forced). */
export async function syncRemoteSettings(force = false): Promise<void> {
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
