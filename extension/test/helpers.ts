/** Shared test helpers: a fresh queue per test, event drafts, a scripted HTTP gateway. */
import "fake-indexeddb/auto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { draft, type EventDraft, type EventPayload } from "../src/lib/events";
import { EventQueue, type QueueLimits, DEFAULT_LIMITS } from "../src/lib/queue";
import { Uploader, type UploaderDeps } from "../src/lib/sender";
import type { Store } from "../src/lib/store";

/** An uploader over real `fetch` with `clock`'s time, no jitter and ids batch-1, batch-2, … */
export function testUploader(queue: EventQueue, store: Store, clock: { t: number }, extra: Partial<UploaderDeps> = {}): Uploader {
  let ids = 0;
  return new Uploader({
    queue,
    store,
    fetch: (url, init) => fetch(url, init),
    now: () => clock.t,
    random: () => 0.5,
    newId: () => `batch-${++ids}`,
    log: () => undefined,
    ...extra,
  });
}

let dbCounter = 0;

/** A queue in a database no other test uses; `name` lets a test reopen it. */
export async function freshQueue(limits: QueueLimits = DEFAULT_LIMITS, name?: string): Promise<{ queue: EventQueue; name: string }> {
  const dbName = name ?? `q-${process.pid}-${++dbCounter}-${Math.random()}`;
  return { queue: await EventQueue.open(indexedDB, dbName, limits), name: dbName };
}

export const CLIENT = "client-1";
export const SESSION = "0190a8b4-5c3d-7e8f-9a0b-1c2d3e4f5a6b";

/** A transition draft at `ts`. */
export function transition(ts: number, tabId = 1, url = `https://example.com/${ts}`): EventDraft {
  return draft({ type: "tab.activated", tab_id: tabId, window_id: 1, url, title: "t" }, { clientId: CLIENT, sessionId: SESSION, ts });
}

/** A page-content draft with `textLen` characters of text. */
export function content(ts: number, textLen: number): EventDraft {
  const payload: EventPayload = {
    type: "page.content",
    tab_id: 1,
    url: `https://example.com/${ts}`,
    title: "t",
    lang: "en",
    text: "x".repeat(textLen),
    content_hash: "a".repeat(64),
  };
  return draft(payload, { clientId: CLIENT, sessionId: SESSION, ts });
}

/** One request the scripted gateway received. */
export interface Received {
  auth: string | undefined;
  body: { batch_id: string; client_id: string; events: { seq: number; type: string; session_id: string }[] };
}

/** A reply the scripted gateway sends: status, headers, body (default: a BatchResult). */
export type Reply = { status: number; headers?: Record<string, string>; body?: unknown; destroy?: boolean };

/**
 * A real HTTP server on 127.0.0.1 that answers `POST /v1/events` from a script
 * of replies (then 202 forever) and records what it received.
 */
export class ScriptedGateway {
  readonly received: Received[] = [];
  private server: Server | null = null;

  constructor(private readonly script: Reply[] = []) {}

  get url(): string {
    const addr = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${addr.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Received["body"];
    this.received.push({ auth: req.headers.authorization, body });
    const reply = this.script.shift() ?? { status: 202 };
    if (reply.destroy) {
      req.socket.destroy();
      return;
    }
    res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
    res.end(JSON.stringify(reply.body ?? { batch_id: body.batch_id, accepted: body.events.length }));
  }
}
