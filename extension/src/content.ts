/**
 * Content script: asks the worker whether this page may be read (a session is
 * recording, the domain is not blocked, the window is not private), then sends
 * its readable text, title, language and SHA-256. Also reports media
 * playing/paused so watching a video does not count as idle.
 */
import { extract, sha256Hex } from "./lib/extract";
import type { ContentMessage, MediaMessage, ProbeAnswer, ProbeMessage, WorkerMessage } from "./messages";

async function send(msg: WorkerMessage): Promise<unknown> {
  return chrome.runtime.sendMessage(msg);
}

async function run(): Promise<void> {
  const url = location.href;
  const probe: ProbeMessage = { kind: "probe", url };
  const answer = (await send(probe)) as ProbeAnswer | undefined;
  if (!answer?.extract) return;
  const page = extract(document, answer.cap);
  const msg: ContentMessage = {
    kind: "content",
    url,
    title: page.title,
    lang: page.lang,
    text: page.text,
    contentHash: await sha256Hex(page.text),
  };
  await send(msg);
}

function anyPlaying(): boolean {
  return Array.from(document.querySelectorAll("video, audio")).some((m) => {
    const media = m as HTMLMediaElement;
    return !media.paused && !media.ended;
  });
}

let lastPlaying = false;
function mediaChanged(): void {
  const playing = anyPlaying();
  if (playing === lastPlaying) return;
  lastPlaying = playing;
  const msg: MediaMessage = { kind: "media", playing };
  send(msg).catch(() => undefined);
}

for (const type of ["play", "playing", "pause", "ended", "emptied"]) {
  document.addEventListener(type, mediaChanged, true);
}

chrome.runtime.onMessage.addListener((msg: { kind?: string }) => {
  if (msg.kind === "extract") run().catch(() => undefined);
  return false;
});

run().catch(() => undefined);
