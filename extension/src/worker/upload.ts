/**
 * Uploading the queue: one uploader (one batch in flight) and the scheduler that
 * triggers it 5 s after the first event waiting, at once at 200 events, and at the
 * retry time the uploader asks for.
 */
import type { ClientEvent, SessionStop } from "../generated/contract";
import { FlushScheduler } from "../lib/scheduler";
import { Uploader } from "../lib/sender";
import { uuidv7 } from "../lib/uuid";
import { log, queueReady, store } from "./state";

type StopHandler = (stops: SessionStop[], sent: ClientEvent[], account: string) => Promise<unknown>;
let stoppedHandler: StopHandler = () => Promise.resolve();

/** Who handles the sessions the gateway says the server stopped (the recorder: recording.ts). */
export function onSessionsStopped(handler: StopHandler): void {
  stoppedHandler = handler;
}

export const uploaderReady = queueReady.then(
  (queue) =>
    new Uploader({
      queue,
      store,
      fetch: (url, init) => fetch(url, init),
      now: () => Date.now(),
      random: () => Math.random(),
      newId: () => uuidv7(Date.now()),
      log,
      onStopped: (stops, sent, account) => stoppedHandler(stops, sent, account),
    }),
);

const scheduler = new FlushScheduler(async () => (await uploaderReady).pump(), {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
});

/** Upload now (and come back at the retry time if the gateway asks to wait). */
export async function flush(): Promise<void> {
  await scheduler.run();
}

/** The recorder stored `events`: schedule an upload for them. */
export function onStored(events: ClientEvent[]): void {
  if (events.length === 0) return;
  void queueReady.then(async (q) => scheduler.stored((await q.stats()).count));
}
