/**
 * The recorder: turns what the browser reported into stored events, in the
 * order the browser reported it, applying the privacy rules before anything
 * touches storage.
 *
 * Privacy rules (`admit`, pure):
 * - nothing is recorded outside a session or while paused;
 * - nothing from an incognito tab or window is recorded (the manifest also
 *   keeps the extension out of incognito altogether);
 * - only web pages (http:, https:) are recorded; a switch to anything else
 *   (new tab, file:, data:, chrome:, the extension's own pages, …) is recorded
 *   as a switch to `about:blank` with no title, so the previous page's visit
 *   still ends at the right moment and nothing about the tab is told; its
 *   title changes, media state and text are not recorded at all;
 * - a page on a blocked domain never appears: the same, as `about:blocked`;
 * - every URL loses its fragment, user info and secret parameters (urls.ts),
 *   and a title that is only the URL (Chrome's, while a page loads) is dropped.
 *
 * Sessions are created locally (UUIDv7 id, `session.started` queued like any
 * event), so starting and stopping works offline; the gateway learns about the
 * session from the log.
 */
import type { ClientEvent, SessionStop } from "../generated/contract";
import { isBlocked } from "./blocklist";
import { type EventPayload, draft } from "./events";
import type { EventQueue } from "./queue";
import { type RecordedAgain, continuedLabel, recordAgain } from "./rehome";
import type { Config, Session, Store } from "./store";
import { BLOCKED_URL, NOT_A_PAGE_URL, type UserSecrets, NO_USER_SECRETS, isPageUrl, isUrlTitle, scrubUrl, userSecrets } from "./urls";

/** A transition as observed: its payload plus where it happened. */
export interface Observed {
  payload: EventPayload;
  incognito?: boolean;
  /** URL of the tab the event concerns, when the payload has none (media state). */
  tabUrl?: string;
}

/** The privacy settings `admit` applies. */
export interface Privacy {
  blocked: readonly string[];
  secrets: UserSecrets;
}

/** What a URL may be recorded as: itself scrubbed, or a placeholder that tells nothing. */
function recordedUrl(url: string, privacy: Privacy): string {
  if (!isPageUrl(url)) return NOT_A_PAGE_URL;
  if (isBlocked(url, privacy.blocked)) return BLOCKED_URL;
  return scrubUrl(url, privacy.secrets);
}

/**
 * Decide whether (and in which form) an observed transition may be stored.
 *
 * @returns the payload to store, possibly redacted, or null to drop it.
 */
export function admit(obs: Observed, privacy: Privacy = { blocked: [], secrets: NO_USER_SECRETS }): EventPayload | null {
  if (obs.incognito) return null;
  const p = obs.payload;
  if (p.type === "page.content") {
    const url = recordedUrl(p.url, privacy);
    return url === NOT_A_PAGE_URL || url === BLOCKED_URL ? null : { ...p, url };
  }
  if (p.type === "tab.activated" || p.type === "tab.updated") {
    const url = recordedUrl(p.url, privacy);
    // While a page loads, Chrome titles its tab with the URL (secrets included): no title.
    if (url !== NOT_A_PAGE_URL && url !== BLOCKED_URL) return { ...p, url, title: isUrlTitle(p.title ?? "", p.url) ? "" : p.title };
    // A title change of a page that is not recorded tells nothing worth keeping.
    return p.type === "tab.updated" && p.change === "title" ? null : { ...p, url, title: "" };
  }
  if (p.type === "media.state" && obs.tabUrl !== undefined) {
    const url = recordedUrl(obs.tabUrl, privacy);
    return url === NOT_A_PAGE_URL || url === BLOCKED_URL ? null : p;
  }
  return p;
}

export interface RecorderDeps {
  queue: EventQueue;
  store: Store;
  now: () => number;
  newId: (ms: number) => string;
  /** Called after events were stored (the uploader's trigger). */
  onStored: (events: ClientEvent[]) => void;
  log: (msg: string, data?: unknown) => void;
}

/** What `Recorder.switchAccount` did. */
export interface AccountSwitch {
  /** Queued events of another account deleted. */
  deleted: number;
  /** Whether a session running for another account ended. */
  sessionEnded: boolean;
}

/** Serialises recording so events get their seq in the order they were observed. */
export class Recorder {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: RecorderDeps) {}

  /**
   * Record the transition observed at `ts`.
   *
   * `observe` may await browser look-ups (tab URL, title); calls are still
   * stored in the order `submit` was called.
   */
  submit(ts: number, observe: () => Promise<Observed | null> | Observed | null): Promise<ClientEvent[]> {
    return this.serial(async () => {
      const obs = await observe();
      return obs ? this.storeObserved(ts, [obs], false) : [];
    });
  }

  /**
   * Start a session: `session.started`, then the snapshot (the active tab of
   * each window, the focused window) so the first visit starts right away.
   */
  startSession(label: string, snapshot: () => Promise<Observed[]>): Promise<Session> {
    return this.serial(async () => {
      const existing = await this.d.store.session();
      if (existing) return existing;
      const ts = this.d.now();
      const session: Session = { id: this.d.newId(ts), label, startedAt: ts };
      await this.d.store.setSession(session);
      await this.d.store.setPausedUntil(0);
      await this.d.store.updateStatus({ sessionEnded: "", sessionContinued: "" });
      await this.storeObserved(ts, [{ payload: { type: "session.started", label } }, ...(await snapshot())], true);
      return session;
    });
  }

  /** Stop the session: `session.stopped` closes every open visit at this moment. */
  stopSession(): Promise<Session | null> {
    return this.serial(async () => {
      const session = await this.d.store.session();
      if (!session) return null;
      await this.storeObserved(this.d.now(), [{ payload: { type: "session.stopped" } }], true);
      await this.d.store.setSession(null);
      await this.d.store.setPausedUntil(0);
      await this.d.store.updateStatus({ sessionContinued: "" });
      return session;
    });
  }

  /**
   * The gateway says the server stopped these sessions; `sent` is the batch whose answer
   * said so (acknowledged), `account` the account it went to.
   *
   * - Stopped by the user (the dashboard, the API; or a stop of unknown kind): if the
   *   running session is one, it ends here too and the popup says why. Nothing is
   *   queued (the server's stop is in the log already); from now on nothing is
   *   recorded in it in vain.
   * - Closed after a long time without an event reaching the server (`idle`): what was
   *   recorded in it after the close (offline, say) is recorded again in a new session
   *   (`recordAgain`, rehome.ts), which the recording goes on in if it was running.
   *
   * @returns the session recording now when it changed (null: none), else undefined.
   */
  onServerStops(stops: readonly SessionStop[], sent: readonly ClientEvent[], account: string): Promise<Session | null | undefined> {
    return this.serial(async () => {
      let outcome: Session | null | undefined;
      for (const stop of stops) {
        const session = await this.d.store.session();
        const running = session?.id === stop.session_id ? session : null;
        if (stop.reason === "idle" && stop.stopped_at > 0) {
          outcome = (await this.continueAfterIdleClose(stop, sent, account, running)) ?? outcome;
        } else if (running) {
          await this.endRunning(running, stop.reason === "user" && stop.stopped_at > 0);
          outcome = null;
        }
      }
      return outcome;
    });
  }

  private async endRunning(session: Session, byUser: boolean): Promise<void> {
    await this.d.store.setSession(null);
    await this.d.store.setPausedUntil(0);
    const name = session.label ? `"${session.label}"` : "The session";
    const how = byUser ? "on the dashboard" : "on the dashboard or after a long time without activity";
    await this.d.store.updateStatus({ sessionEnded: `${name} was stopped ${how}; start a new one to go on recording`, sessionContinued: "" });
    this.d.log("session stopped by the server, ended", { session_id: session.id });
  }

  /** Move what was recorded after an idle close to a new session; it runs on if `running`. */
  private async continueAfterIdleClose(
    stop: SessionStop,
    sent: readonly ClientEvent[],
    account: string,
    running: Session | null,
  ): Promise<Session | undefined> {
    const now = this.d.now();
    const next = { id: this.d.newId(now), label: continuedLabel(running?.label ?? ""), eventId: this.d.newId };
    const close = { sessionId: stop.session_id, stoppedAt: stop.stopped_at };
    const plan: { moved: RecordedAgain | null } = { moved: null };
    await this.d.queue.rewrite(sent, account, (queued) => {
      plan.moved = recordAgain(close, sent, queued, next);
      return plan.moved?.queue ?? null;
    });
    const { moved } = plan;
    if (moved) {
      // The uploader sends them next (it is answering the batch that reported the close).
      this.d.log("recorded again in a new session after an idle close", { from: stop.session_id, to: next.id, moved: moved.moved, lost: moved.lost });
    }
    if (!running) return undefined;
    const session: Session = { id: next.id, label: next.label, startedAt: moved?.startedAt ?? now };
    await this.d.store.setSession(session);
    if (!moved) await this.storeObserved(now, [{ payload: { type: "session.started", label: next.label } }], true);
    await this.d.store.updateStatus({
      sessionContinued: "in a new session: nothing reached the server for a long time (offline?), so it closed the previous one",
    });
    return session;
  }

  /**
   * Store `config` (a token for the account `config.account`), serialised with
   * recording: no event is stamped with one account while a session of another runs.
   *
   * A session running for another (paired) account ends first. Then the config is
   * stored and, when `switchQueue` (the gateway took the token), what is queued for
   * another account is deleted. Were the token refused, the queue is kept, and so is the
   * ended session's `session.stopped`, queued for the account it belongs to.
   *
   * @returns how many queued events of another account were deleted, and whether a
   *   session ended.
   */
  switchAccount(config: Partial<Config> & { account: string }, switchQueue: boolean): Promise<AccountSwitch> {
    return this.serial(async () => {
      const previous = (await this.d.store.config()).account;
      let sessionEnded = false;
      if (previous && previous !== config.account && (await this.d.store.session())) {
        // The running session (its label too) is the previous account's: it does not go on here.
        if (!switchQueue) await this.storeObserved(this.d.now(), [{ payload: { type: "session.stopped" } }], true);
        await this.d.store.setSession(null);
        await this.d.store.setPausedUntil(0);
        sessionEnded = true;
      }
      await this.d.store.setConfig(config);
      const deleted = switchQueue ? await this.d.queue.switchAccount(config.account) : 0;
      return { deleted, sessionEnded };
    });
  }

  /** Pause for `minutes`: recorded as going idle, so the paused time counts for no page. */
  pause(minutes: number): Promise<number> {
    return this.serial(async () => {
      const ts = this.d.now();
      // Idle not inferred from inactivity (idle_for_s 0): the pause starts right now.
      await this.storeObserved(ts, [{ payload: { type: "idle.state", state: "idle", idle_for_s: 0 } }], false);
      const until = ts + Math.max(1, minutes) * 60_000;
      await this.d.store.setPausedUntil(until);
      return until;
    });
  }

  /** End a pause: back to active, then the current tab (snapshot) starts a new visit. */
  resume(snapshot: () => Promise<Observed[]>): Promise<void> {
    return this.serial(async () => {
      if ((await this.d.store.pausedUntil()) === 0) return;
      await this.d.store.setPausedUntil(0);
      const ts = this.d.now();
      await this.storeObserved(ts, [{ payload: { type: "idle.state", state: "active", idle_for_s: 0 } }, ...(await snapshot())], false);
    });
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task, task);
    this.chain = run.catch((err: unknown) => this.d.log("recording failed", String(err)));
    return run;
  }

  private async storeObserved(ts: number, observed: Observed[], control: boolean): Promise<ClientEvent[]> {
    const session = await this.d.store.session();
    if (!session) return [];
    if (!control && (await this.d.store.pausedUntil()) > ts) return [];
    const { blockedDomains, secretParams } = await this.d.store.effective();
    const privacy: Privacy = { blocked: blockedDomains, secrets: userSecrets(secretParams) };
    const clientId = await this.d.store.clientId(() => this.d.newId(ts));
    const { account } = await this.d.store.config();
    const drafts = observed
      .map((o) => admit(o, privacy))
      .filter((p): p is EventPayload => p !== null)
      .map((p) => draft(p, { clientId, sessionId: session.id, ts }, this.d.now()));
    if (drafts.length === 0) return [];
    const stored = await this.d.queue.append(drafts, account);
    this.d.onStored(stored);
    return stored;
  }
}
