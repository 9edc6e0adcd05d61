/**
 * The popup: connect to MindHit (pairing through the dashboard) or sign in
 * with a pasted device token, start/stop a session, pause, see whether
 * recording works (queued events, last upload, errors), open the dashboard,
 * edit the privacy settings. All logic lives in the worker; the popup only
 * sends commands and renders the status it gets back (every 2 s). A refresh
 * never overwrites a field the user is editing (lib/fields.ts), and the token
 * is never shown back: the worker does not even tell the popup what it is.
 */
import { FieldGuard } from "./lib/fields";
import type { PopupMessage, StatusView } from "./messages";

const guard = new FieldGuard();

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};
const input = (id: string): HTMLInputElement => $<HTMLInputElement>(id);

/** Show a stored value in a field unless the user is editing it. */
function show(id: string, value: string): void {
  const field = $<HTMLInputElement | HTMLTextAreaElement>(id);
  guard.render(id, field, value, document.activeElement === field);
}

for (const id of ["gateway", "dashboard", "blocked", "idle", "secrets"]) {
  $(id).addEventListener("input", () => guard.onInput(id));
}

function when(ms: number | null): string {
  if (!ms) return "never";
  const secs = Math.round((Date.now() - ms) / 1000);
  if (secs < 60) return `${secs} s ago`;
  if (secs < 3600) return `${Math.round(secs / 60)} min ago`;
  return new Date(ms).toLocaleString();
}

function render(s: StatusView): void {
  $("message").textContent = s.message ?? "";
  $("pairing").textContent = s.pairing;
  $("signin").hidden = s.signedIn && !s.authError;
  $("main").hidden = !s.signedIn;
  show("gateway", s.gatewayUrl);
  show("dashboard", s.dashboardUrl);
  const state = $("state");
  state.className = "state";
  if (s.authError) {
    state.textContent = "Sign in again: the gateway refused the token";
    state.classList.add("error");
  } else if (s.pausedUntil > 0) {
    state.textContent = `Paused until ${new Date(s.pausedUntil).toLocaleTimeString()}`;
  } else if (s.recording) {
    state.textContent = `Recording${s.sessionLabel ? `: ${s.sessionLabel}` : ""}${s.sessionContinued ? ` (${s.sessionContinued})` : ""}`;
    state.classList.add("recording");
  } else {
    state.textContent = s.sessionEnded ? `Not recording: ${s.sessionEnded}` : "Not recording";
  }
  const sessionOn = s.sessionStartedAt !== null;
  $("start-btn").hidden = sessionOn;
  $("label").hidden = sessionOn;
  $("stop-btn").hidden = !sessionOn;
  $("pause-controls").hidden = !sessionOn;
  $("pause-btn").hidden = s.pausedUntil > 0;
  $("resume-btn").hidden = s.pausedUntil === 0;
  $("queued").textContent =
    `${s.queued + s.inflight}` +
    (s.droppedEvents || s.droppedTexts ? ` (dropped: ${s.droppedEvents} events, ${s.droppedTexts} texts)` : "");
  $("last-upload").textContent = when(s.lastUploadAt);
  const retry = s.nextRetryAt && s.nextRetryAt > Date.now() ? ` — retrying ${new Date(s.nextRetryAt).toLocaleTimeString()}` : "";
  $("last-error").textContent = s.lastError ? `${s.lastError}${retry}` : "none";
  show("blocked", s.blockedDomains.join("\n"));
  show("idle", String(s.idleThresholdS));
  show("secrets", s.secretParams.join("\n"));
  $("remote").textContent =
    s.remoteFetchedAt === null
      ? "Dashboard settings: not synced (sign in to the dashboard in this browser)."
      : `Dashboard settings (synced ${when(s.remoteFetchedAt)}): idle after ${s.remoteIdleThresholdS ?? "?"} s` +
        (s.remoteBlockedDomains.length ? `; also never recorded: ${s.remoteBlockedDomains.join(", ")}` : "");
}

/** Fields whose text a command submits: once the worker stored it, they follow the store again. */
const SUBMITS: Partial<Record<PopupMessage["kind"], string[]>> = {
  signIn: ["gateway", "dashboard"],
  pair: ["dashboard"],
  settings: ["blocked", "idle", "secrets"],
};

async function send(msg: PopupMessage): Promise<void> {
  const answer = await chrome.runtime.sendMessage<PopupMessage, StatusView | { error: string }>(msg);
  if ("error" in answer) {
    $("message").textContent = answer.error;
    return;
  }
  guard.committed(...(SUBMITS[msg.kind] ?? []));
  if (msg.kind === "signIn") input("token").value = ""; // never kept on screen
  render(answer);
}

function on(id: string, make: () => PopupMessage): void {
  $(id).addEventListener("click", () => {
    send(make()).catch((err: unknown) => ($("message").textContent = String(err)));
  });
}

on("signin-btn", () => ({
  kind: "signIn",
  gatewayUrl: input("gateway").value || "http://127.0.0.1:8000",
  token: input("token").value,
  dashboardUrl: input("dashboard").value || "http://127.0.0.1:8080",
}));
on("connect-btn", () => ({ kind: "pair", dashboardUrl: input("dashboard").value || "http://127.0.0.1:8080" }));
on("start-btn", () => ({ kind: "start", label: input("label").value }));
on("stop-btn", () => ({ kind: "stop" }));
on("pause-btn", () => ({ kind: "pause", minutes: Number(input("pause-minutes").value) || 15 }));
on("resume-btn", () => ({ kind: "resume" }));
on("signout-btn", () => ({ kind: "signOut" }));
on("settings-btn", () => ({
  kind: "settings",
  blockedDomains: $<HTMLTextAreaElement>("blocked").value,
  idleThresholdS: Number(input("idle").value),
  secretParams: $<HTMLTextAreaElement>("secrets").value,
}));
$("dashboard-btn").addEventListener("click", () => {
  chrome.runtime
    .sendMessage({ kind: "status" } satisfies PopupMessage)
    .then((s: StatusView) => chrome.tabs.create({ url: s.dashboardUrl }))
    .catch(() => undefined);
});

void send({ kind: "status" });
setInterval(() => void send({ kind: "status" }), 2_000);
