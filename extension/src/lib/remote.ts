/**
 * Pairing with the dashboard for settings: when the user is signed in to the
 * dashboard in this browser, its `GET /v1/settings` (cookie-authenticated; the
 * extension's host permission lets the request carry the cookie) gives the
 * account's block list and idle threshold, so the same privacy rules apply in
 * the browser as on the server. Not signed in, or unreachable: nothing changes.
 */
import { parseBlockList } from "./blocklist";
import type { Fetch } from "./sender";
import type { RemoteSettings } from "./store";

/**
 * Fetch the account's settings from the dashboard.
 *
 * @returns the settings, or null when the dashboard is unreachable or the user
 *   is not signed in there (any answer but a 200 with the expected JSON).
 */
export async function fetchRemoteSettings(
  fetch: Fetch,
  dashboardUrl: string,
  now: number,
): Promise<RemoteSettings | null> {
  if (!dashboardUrl) return null;
  try {
    const res = await fetch(`${dashboardUrl.replace(/\/+$/, "")}/v1/settings`, {
      method: "GET",
      credentials: "include",
      headers: { accept: "application/json" },
      redirect: "manual",
    });
    if (res.status !== 200) return null;
    const body = (await res.json()) as { blocked_domains?: unknown; idle_threshold_s?: unknown };
    if (!Array.isArray(body.blocked_domains) || typeof body.idle_threshold_s !== "number") return null;
    return {
      blockedDomains: parseBlockList(body.blocked_domains.filter((d) => typeof d === "string").join("\n")),
      idleThresholdS: Math.max(15, Math.round(body.idle_threshold_s)),
      fetchedAt: now,
    };
  } catch {
    return null;
  }
}
