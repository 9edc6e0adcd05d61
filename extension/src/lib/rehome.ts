/**
 * Recording again, in a new session, what the server did not count after an idle close.
 *
 * The server closes a session that had no event for a long time
 * (`MINDHIT_SESSION_IDLE_CLOSE_S`, 2 h by default), dated at its last event. An
 * extension that was offline meanwhile (a flight, a train) went on recording into it;
 * when it uploads, the gateway's answer lists the session in `stops` with
 * `reason: "idle"` and `stopped_at`, and the processors ignore everything recorded in
 * it after that moment. Nobody asked for that loss: `recordAgain` moves those events
 * into a new session, in their order, as new events (new ids; the queue gives them new
 * seqs), behind a `session.started` of their own. The server does not count the
 * ignored copies' time, so the moved events keep their times. Reports of going idle
 * that come first (the laptop locked, then shut for the night) are left out: the new
 * session starts when the user is back, not the evening before.
 *
 * Pure: no I/O, no clock.
 */
import type { ClientEvent } from "../generated/contract";
import { LIMITS, SCHEMA_VERSION } from "../generated/meta";
import { type EventDraft, clip } from "./events";

const CONTINUED = " (continued)";

/**
 * The name of the session that goes on after an idle close: the closed one's, marked as
 * its continuation (once, however often it goes on), so the dashboard's list tells them
 * apart; an unnamed session's stays unnamed.
 */
export function continuedLabel(label: string): string {
  if (!label) return "";
  const base = label.endsWith(CONTINUED) ? label.slice(0, -CONTINUED.length) : label;
  return clip(base, LIMITS.labelMax - CONTINUED.length) + CONTINUED;
}

/** An idle close as the gateway reported it: the session and its stop time. */
export interface IdleClose {
  sessionId: string;
  /** Events of the session recorded after this time (Unix ms) were not counted. */
  stoppedAt: number;
}

/** The session the events move to. */
export interface NextSession {
  id: string;
  label: string;
  /** A new event id for an event at `ms`. */
  eventId: (ms: number) => string;
}

/** What `recordAgain` decided. */
export interface RecordedAgain {
  /** The queue's new contents, in order, without seqs. */
  queue: EventDraft[];
  /** Events moved to the new session (its `session.started` not counted). */
  moved: number;
  /** Events of the acknowledged batch that could not be moved (see `recordAgain`). */
  lost: number;
  /** The new session's start: its first moved event (after the idle reports left out). */
  startedAt: number;
}

/** A report that the user went idle or locked the screen (not that they came back). */
function goingIdle(event: ClientEvent): boolean {
  return event.type === "idle.state" && event.state !== "active";
}

/** An event without its seq (the queue numbers what it stores). */
function withoutSeq(event: ClientEvent): EventDraft {
  const draft: Partial<ClientEvent> = { ...event };
  delete draft.seq;
  return draft as EventDraft;
}

/**
 * Move what was recorded in `close.sessionId` after `close.stoppedAt` to `next`.
 *
 * `sent` is the batch whose answer reported the close (stored, but not counted) and
 * `queued` what waits in the queue after it, both in seq order. The batch's late
 * events move only when nothing after them in the batch belongs elsewhere: an event of
 * another session after them was counted, and the server's clock for this install
 * stands past them (their copies would be clamped to it); they are then `lost`, as
 * they were before this existed.
 *
 * @returns the queue's new contents, or null when nothing is to be moved.
 */
export function recordAgain(
  close: IdleClose,
  sent: readonly ClientEvent[],
  queued: readonly ClientEvent[],
  next: NextSession,
): RecordedAgain | null {
  const late = (e: ClientEvent) => e.session_id === close.sessionId && e.ts > close.stoppedAt;
  const first = sent.findIndex(late);
  const movable = first >= 0 && sent.slice(first).every(late) ? sent.slice(first) : [];
  const lost = sent.filter(late).length - movable.length;
  const moving = [...movable, ...queued.filter(late)];
  const start = moving.findIndex((e) => !goingIdle(e));
  const firstLate = moving[start];
  if (start < 0 || firstLate === undefined) return null;
  const left = new Set(moving.slice(0, start));
  const move = (e: ClientEvent): EventDraft[] =>
    left.has(e) ? [] : [{ ...withoutSeq(e), event_id: next.eventId(e.ts), session_id: next.id }];
  const started: EventDraft = {
    event_id: next.eventId(firstLate.ts),
    client_id: firstLate.client_id,
    session_id: next.id,
    ts: firstLate.ts,
    v: SCHEMA_VERSION,
    incognito: false,
    type: "session.started",
    label: next.label,
  };
  const queue = [started, ...movable.flatMap(move), ...queued.flatMap((e) => (late(e) ? move(e) : [withoutSeq(e)]))];
  return { queue, moved: moving.length - start, lost, startedAt: firstLate.ts };
}
