/**
 * The service worker: wires the browser's events to the recorder, the queue
 * and the uploader, and answers the popup and the content script. Its parts, one
 * job each, live in worker/:
 *
 * - state.ts: what survives the worker being stopped (IndexedDB: state and queue);
 * - upload.ts: the uploader and when it runs (queue → gateway);
 * - recording.ts: the recorder (observations → queued events of the session);
 * - tabs.ts: capture (tab, navigation, window, idle events → observations);
 * - pairing.ts: the device token (sign in, "Connect to MindHit");
 * - settings.ts: idle detection interval, the account's settings from the dashboard;
 * - messaging.ts: the popup's commands and the content script's messages.
 *
 * Listeners are registered synchronously at start-up, as MV3 requires; an
 * alarm every 30 s restarts uploading after the worker was stopped, and a
 * 5 s timer (or 200 queued events) triggers it while the worker runs.
 */
import { uuidv7 } from "./lib/uuid";
import { RESUME_ALARM, onPopup, registerMessages, statusView } from "./worker/messaging";
import { adoptLegacyQueue } from "./worker/pairing";
import { extractOpenPages, recorderReady } from "./worker/recording";
import { applyIdleThreshold, syncRemoteSettings } from "./worker/settings";
import { queueReady, store } from "./worker/state";
import { onIdleState, registerCapture, snapshot } from "./worker/tabs";
import { flush } from "./worker/upload";

const FLUSH_ALARM = "mindhit-flush";

registerCapture();
registerMessages();

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
  await adoptLegacyQueue(); // once, after an update from a version before accounts
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
