/**
 * Idle reports: chrome.idle says `idle` once the user has been inactive for its
 * detection interval, so an `idle.state` event carries that interval as
 * `idle_for_s`. The processors work out the user's last input from it and apply
 * their own idle threshold (also when replaying old history).
 */
import type { EventPayload } from "./events";

/** The detection intervals chrome.idle accepts (it clamps to them), in seconds. */
export const DETECTION_INTERVAL_S = { min: 15, max: 4 * 3600 } as const;

/** The detection interval to give chrome.idle for the user's idle threshold (seconds). */
export function detectionIntervalS(idleThresholdS: number): number {
  const { min, max } = DETECTION_INTERVAL_S;
  return Math.min(max, Math.max(min, Math.round(idleThresholdS)));
}

/**
 * The `idle.state` payload for a chrome.idle report.
 *
 * @param intervalS - the detection interval chrome.idle had when it reported; only
 *   `idle` is inferred from inactivity, so `locked` and `active` carry 0.
 */
export function idlePayload(state: "active" | "idle" | "locked", intervalS: number): EventPayload {
  return { type: "idle.state", state, idle_for_s: state === "idle" ? Math.max(0, Math.round(intervalS)) : 0 };
}
