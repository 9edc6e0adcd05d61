/**
 * The recorder: turns observations into queued events of the running session
 * (serialised, in call order), and asks pages loaded before recording began for
 * their text.
 */
import { type Observed, Recorder } from "../lib/recorder";
import { uuidv7 } from "../lib/uuid";
import { log, queueReady, store } from "./state";
import { onSessionsStopped, onStored } from "./upload";

export const recorderReady = queueReady.then(
  (queue) =>
    new Recorder({ queue, store, now: () => Date.now(), newId: (ms) => uuidv7(ms), onStored, log }),
);

onSessionsStopped((stops, sent, account) => recorderReady.then((r) => r.onServerStops(stops, sent, account)));

/** Record an observation made at `ts` (serialised, in call order). */
export function record(ts: number, observe: () => Promise<Observed | null> | Observed | null): void {
  void recorderReady.then((r) => r.submit(ts, observe));
}

/** Pages loaded before recording began have not been read yet: ask their content scripts. */
export async function extractOpenPages(): Promise<void> {
  const tabs = await chrome.tabs.query({ url: ["http://*/*", "https://*/*"] });
  for (const tab of tabs) {
    if (tab.id !== undefined && !tab.incognito) {
      chrome.tabs.sendMessage(tab.id, { kind: "extract" }).catch(() => undefined);
    }
  }
}
