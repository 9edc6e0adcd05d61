/**
 * Messages between the popup, the content script and the service worker.
 * One typed union, so each side handles exactly what the other sends.
 */

/** Content script → worker: may this page's text be extracted, and how much? */
export interface ProbeMessage {
  kind: "probe";
  url: string;
}
export interface ProbeAnswer {
  extract: boolean;
  cap: number;
}

/** Content script → worker: the extracted page. */
export interface ContentMessage {
  kind: "content";
  url: string;
  title: string;
  lang: string;
  text: string;
  contentHash: string;
}

/** Content script → worker: media in the page started or stopped playing. */
export interface MediaMessage {
  kind: "media";
  playing: boolean;
}

/** Worker → content script: extract again (the SPA changed its URL). */
export interface ExtractMessage {
  kind: "extract";
}

/** Popup → worker. */
export type PopupMessage =
  | { kind: "status" }
  | { kind: "signIn"; gatewayUrl: string; token: string; dashboardUrl: string }
  | { kind: "pair"; dashboardUrl: string }
  | { kind: "signOut" }
  | { kind: "start"; label: string }
  | { kind: "stop" }
  | { kind: "pause"; minutes: number }
  | { kind: "resume" }
  | { kind: "settings"; blockedDomains: string; idleThresholdS: number; secretParams: string }
  | { kind: "flush" };

/** Worker → popup: everything the popup shows. */
export interface StatusView {
  signedIn: boolean;
  gatewayUrl: string;
  dashboardUrl: string;
  recording: boolean;
  sessionLabel: string;
  sessionStartedAt: number | null;
  /** Why the last session ended without the user stopping it here ("" when it did not). */
  sessionEnded: string;
  /** Why the running session is a new one the user did not start ("" when it is not). */
  sessionContinued: string;
  pausedUntil: number;
  queued: number;
  inflight: number;
  droppedEvents: number;
  droppedTexts: number;
  lastUploadAt: number | null;
  lastError: string;
  authError: boolean;
  nextRetryAt: number | null;
  blockedDomains: string[];
  idleThresholdS: number;
  /** Extra query parameter names stripped from URLs (the documented list always applies). */
  secretParams: string[];
  /** How the last "Connect to MindHit" went ("" before any). */
  pairing: string;
  /** From the dashboard's account settings (applied in addition to the local list). */
  remoteBlockedDomains: string[];
  remoteIdleThresholdS: number | null;
  remoteFetchedAt: number | null;
  message?: string;
}

export type WorkerMessage = ProbeMessage | ContentMessage | MediaMessage | PopupMessage;
