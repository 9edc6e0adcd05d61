/**
 * Persisted extension state: configuration (with the device token), the
 * install's client id, the current session, pause, a pairing in progress, and
 * the upload status the popup shows. Everything a restarted service worker
 * needs lives here or in the IndexedDB queue; nothing important is kept only in
 * memory. The worker backs it with the extension origin's IndexedDB (kv.ts),
 * which content scripts cannot read.
 */

import { normaliseDomain } from "./blocklist";

/** A small key-value area (IndexedDB in the worker, memory in tests). */
export interface KV {
  get(keys: string[]): Promise<Record<string, unknown>>;
  set(items: Record<string, unknown>): Promise<void>;
}

/** What the user configures in the popup. */
export interface Config {
  gatewayUrl: string;
  token: string;
  dashboardUrl: string;
  /**
   * Whose the events queued now are: the account of the last pairing or pasted token
   * (`queueOwner` in pairing.ts; "" before any). Kept after signing out and when the
   * gateway refuses the token, so what is recorded meanwhile goes to that account only.
   */
  account: string;
  blockedDomains: string[];
  idleThresholdS: number;
  /** Query parameter names stripped from URLs besides the documented list (`name`, `prefix*`). */
  secretParams: string[];
  /** Page text is cut to this many characters. */
  textCap: number;
}

/** Settings pulled from the dashboard (`GET {dashboard}/v1/settings`, the user's account). */
export interface RemoteSettings {
  blockedDomains: string[];
  idleThresholdS: number;
  fetchedAt: number;
}

/** What recording actually applies: local and dashboard block lists, the dashboard's idle threshold. */
export interface Effective {
  blockedDomains: string[];
  idleThresholdS: number;
  secretParams: string[];
  textCap: number;
  remote: RemoteSettings | null;
}

/** The recording session, created locally (see README: sessions start offline). */
export interface Session {
  id: string;
  label: string;
  startedAt: number;
}

/** Upload status shown in the popup. */
export interface Status {
  lastUploadAt: number | null;
  lastError: string;
  lastErrorAt: number | null;
  authError: boolean;
  rejectedTotal: number;
  nextRetryAt: number | null;
  /** How the last "Connect to MindHit" ended ("" before any). */
  pairing: string;
  /** Why the last session ended without the user stopping it here ("" when it did not). */
  sessionEnded: string;
  /** Why the running session is a new one the user did not start ("" when it is not). */
  sessionContinued: string;
}

/** A "Connect to MindHit" in progress: the PKCE verifier waits for the dashboard's code. */
export interface PendingPairing {
  verifier: string;
  dashboardUrl: string;
  expiresAt: number;
}

export const DEFAULT_CONFIG: Config = {
  gatewayUrl: "http://127.0.0.1:8000",
  token: "",
  dashboardUrl: "http://127.0.0.1:8080",
  account: "",
  blockedDomains: [],
  idleThresholdS: 60,
  secretParams: [],
  textCap: 100_000,
};

export const INITIAL_STATUS: Status = {
  lastUploadAt: null,
  lastError: "",
  lastErrorAt: null,
  authError: false,
  rejectedTotal: 0,
  nextRetryAt: null,
  pairing: "",
  sessionEnded: "",
  sessionContinued: "",
};

/** In-memory KV (tests, and a fallback when chrome.storage is unavailable). */
export class MemoryKV implements KV {
  readonly data = new Map<string, unknown>();

  get(keys: string[]): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const k of keys) if (this.data.has(k)) out[k] = structuredClone(this.data.get(k));
    return Promise.resolve(out);
  }

  set(items: Record<string, unknown>): Promise<void> {
    for (const [k, v] of Object.entries(items)) this.data.set(k, structuredClone(v));
    return Promise.resolve();
  }
}

/** Typed accessors over a KV. */
export class Store {
  constructor(private readonly kv: KV) {}

  async config(): Promise<Config> {
    const { config } = await this.kv.get(["config"]);
    return { ...DEFAULT_CONFIG, ...(config as Partial<Config> | undefined) };
  }

  async setConfig(patch: Partial<Config>): Promise<Config> {
    const next = { ...(await this.config()), ...patch };
    await this.kv.set({ config: next });
    return next;
  }

  /** The install's client id, created once. */
  async clientId(make: () => string): Promise<string> {
    const { clientId } = await this.kv.get(["clientId"]);
    if (typeof clientId === "string" && clientId) return clientId;
    const id = make();
    await this.kv.set({ clientId: id });
    return id;
  }

  async remote(): Promise<RemoteSettings | null> {
    const { remote } = await this.kv.get(["remote"]);
    return (remote as RemoteSettings | null | undefined) ?? null;
  }

  async setRemote(remote: RemoteSettings | null): Promise<void> {
    await this.kv.set({ remote });
  }

  /**
   * The settings recording applies (the union of block lists; the dashboard's idle threshold
   * wins). Block-list entries are normalised again: lists saved by an older version kept
   * Unicode domains (`bücher.de`) that never match the ASCII hosts browsers report.
   */
  async effective(): Promise<Effective> {
    const [config, remote] = await Promise.all([this.config(), this.remote()]);
    const blocked = [...config.blockedDomains, ...(remote?.blockedDomains ?? [])].map(normaliseDomain);
    return {
      blockedDomains: [...new Set(blocked.filter((d) => d !== ""))],
      idleThresholdS: remote?.idleThresholdS ?? config.idleThresholdS,
      secretParams: config.secretParams,
      textCap: config.textCap,
      remote,
    };
  }

  async session(): Promise<Session | null> {
    const { session } = await this.kv.get(["session"]);
    return (session as Session | null | undefined) ?? null;
  }

  async setSession(session: Session | null): Promise<void> {
    await this.kv.set({ session });
  }

  async pausedUntil(): Promise<number> {
    const { pausedUntil } = await this.kv.get(["pausedUntil"]);
    return typeof pausedUntil === "number" ? pausedUntil : 0;
  }

  async setPausedUntil(at: number): Promise<void> {
    await this.kv.set({ pausedUntil: at });
  }

  async pairing(): Promise<PendingPairing | null> {
    const { pairing } = await this.kv.get(["pairing"]);
    return (pairing as PendingPairing | null | undefined) ?? null;
  }

  async setPairing(pairing: PendingPairing | null): Promise<void> {
    await this.kv.set({ pairing });
  }

  async status(): Promise<Status> {
    const { status } = await this.kv.get(["status"]);
    return { ...INITIAL_STATUS, ...(status as Partial<Status> | undefined) };
  }

  async updateStatus(patch: Partial<Status>): Promise<Status> {
    const next = { ...(await this.status()), ...patch };
    await this.kv.set({ status: next });
    return next;
  }
}
