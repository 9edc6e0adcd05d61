/**
 * Event construction: a draft (everything but `seq`) made from what the
 * browser reported, trimmed to the contract's limits. `seq` is assigned by the
 * queue, atomically with storing, so it is strictly increasing per install.
 */
import type { ClientEvent } from "../generated/contract";
import { LIMITS, SCHEMA_VERSION } from "../generated/meta";
import { uuidv7 } from "./uuid";

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type DistributivePayload<T> = T extends unknown
  ? Omit<T, "seq" | "event_id" | "client_id" | "session_id" | "ts" | "v" | "incognito">
  : never;

/** A client event before the queue gives it its `seq`. */
export type EventDraft = DistributiveOmit<ClientEvent, "seq">;

/** The type-specific part of an event (no envelope). */
export type EventPayload = DistributivePayload<ClientEvent>;

/** Who and when: the envelope fields known when the transition happens. */
export interface Envelope {
  clientId: string;
  sessionId: string;
  ts: number;
}

/** Cut a string to at most `max` UTF-16 code units without splitting a surrogate pair. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut;
}

/**
 * `text` with each NUL character as U+FFFD, the replacement character: the gateway
 * refuses an event holding a NUL (no database stores it), and a page or its script
 * can still put one in a title.
 */
export function storable(text: string): string {
  return text.includes("\u0000") ? text.replaceAll("\u0000", "\uFFFD") : text;
}

function trimPayload(p: EventPayload): EventPayload {
  const out: Record<string, unknown> = { ...p };
  if (typeof out.url === "string") out.url = storable(clip(out.url, LIMITS.urlMax)) || "about:blank";
  if (typeof out.title === "string") out.title = storable(clip(out.title, LIMITS.titleMax));
  // The text was made storable before its hash was taken (extract): changed here, it
  // would no longer be the text its content_hash names.
  if (typeof out.text === "string") out.text = clip(out.text, LIMITS.textMax);
  if (typeof out.lang === "string") out.lang = storable(clip(out.lang, LIMITS.langMax));
  if (typeof out.label === "string") out.label = storable(clip(out.label, LIMITS.labelMax));
  return out as EventPayload;
}

/**
 * Build a draft event from its payload and envelope.
 *
 * @param now - clock for the event id (the envelope's `ts` is the event time).
 */
export function draft(payload: EventPayload, env: Envelope, now: number = env.ts): EventDraft {
  return {
    event_id: uuidv7(now),
    client_id: env.clientId,
    session_id: env.sessionId,
    ts: Math.max(0, Math.round(env.ts)),
    v: SCHEMA_VERSION,
    incognito: false,
    ...trimPayload(payload),
  };
}

const utf8 = new TextEncoder();

/**
 * Serialized size in UTF-8 bytes, for the queue's byte budget and batch sizing
 * (the gateway's 2 MiB body limit counts bytes, and page text is often not ASCII).
 */
export function sizeOf(event: EventDraft | ClientEvent): number {
  return utf8.encode(JSON.stringify(event)).length;
}

/** True for page-text events (dropped or stripped first when space runs short). */
export function isContent(event: EventDraft | ClientEvent): boolean {
  return event.type === "page.content";
}
