/**
 * What of a URL may leave the browser (the same rules as schema/privacy.py,
 * whose lists are generated into URL_PRIVACY; both run the shared cases in
 * tests/fixtures/url_privacy_cases.json).
 *
 * - Only http: and https: URLs are pages. A switch to anything else (new tab,
 *   file:, data:, chrome:, about:, the extension's own pages, …) is recorded as
 *   NOT_A_PAGE_URL with no title: the previous visit ends, nothing is told.
 * - `scrubUrl` drops the fragment, `user:password@`, and every query (or `;`
 *   path) parameter whose name carries a credential: the documented names,
 *   prefixes (X-Amz-*, X-Goog-*) and suffixes (…token, …secret), plus names the
 *   user adds in the privacy settings (`name`, or `prefix*`). A URL without
 *   secrets comes out unchanged, byte for byte.
 */
import { URL_PRIVACY } from "../generated/meta";

export const NOT_A_PAGE_URL = URL_PRIVACY.not_a_page_url;
export const BLOCKED_URL = URL_PRIVACY.blocked_url;

const NAMES: ReadonlySet<string> = new Set(URL_PRIVACY.secret_params);
const PREFIXES: readonly string[] = URL_PRIVACY.secret_param_prefixes;
const SUFFIXES: readonly string[] = URL_PRIVACY.secret_param_suffixes;
const SCHEMES: readonly string[] = URL_PRIVACY.page_schemes;

/** Extra secret names a user configured: exact names, and prefixes written `name*`. */
export interface UserSecrets {
  names: ReadonlySet<string>;
  prefixes: readonly string[];
}

export const NO_USER_SECRETS: UserSecrets = { names: new Set(), prefixes: [] };

/** Parse the user's entries (`tracking`, `x-my-*`) into names and prefixes. */
export function userSecrets(entries: readonly string[]): UserSecrets {
  const names = new Set<string>();
  const prefixes = new Set<string>();
  for (const entry of entries) {
    const text = entry.trim().toLowerCase();
    if (text.endsWith("*") && text.length > 1) prefixes.add(text.slice(0, -1));
    else if (text && !text.includes("*")) names.add(text);
  }
  return { names, prefixes: [...prefixes].sort() };
}

/** Split a comma/whitespace separated list of extra secret names (what the popup stores). */
export function parseSecretParams(text: string): string[] {
  const seen = new Set<string>();
  for (const part of text.replace(/,/g, " ").split(/\s+/)) {
    const entry = part.trim().toLowerCase();
    if (entry && entry !== "*" && !entry.slice(0, -1).includes("*")) seen.add(entry);
  }
  return [...seen];
}

/** True for web pages (`http://`, `https://`): the only URLs recorded. */
export function isPageUrl(url: string): boolean {
  const colon = url.indexOf(":");
  return colon > 0 && SCHEMES.includes(url.slice(0, colon).toLowerCase()) && url.slice(colon + 1, colon + 3) === "//";
}

/** True when a (decoded) parameter name carries a credential. */
export function isSecretParam(name: string, extra: UserSecrets = NO_USER_SECRETS): boolean {
  const lowered = name.trim().toLowerCase();
  return (
    NAMES.has(lowered) ||
    PREFIXES.some((p) => lowered.startsWith(p)) ||
    SUFFIXES.some((s) => lowered.endsWith(s)) ||
    extra.names.has(lowered) ||
    extra.prefixes.some((p) => lowered.startsWith(p))
  );
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * True when `title` is only `url` spelled out (with or without scheme, decoded or
 * not): what Chrome shows as a tab's title until the page names itself, query and
 * fragment included. Such a title is recorded as "".
 */
export function isUrlTitle(title: string, url: string): boolean {
  const text = title.trim();
  if (!text) return false;
  const bare = (url.includes("://") ? url.slice(url.indexOf("://") + 3) : url).replace(/^[^/?#@]*@/, "");
  const forms = [url, bare, bare.replace(/\/$/, ""), bare.replace(/^www\./, "")];
  return forms.some((f) => f === text || safeDecode(f) === text);
}

function paramName(pair: string): string {
  const raw = pair.split("=", 1)[0]!.replace(/\+/g, " ");
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function keep(params: string[], extra: UserSecrets): string[] {
  return params.filter((p) => !(p && isSecretParam(paramName(p), extra)));
}

function scrubPath(path: string, extra: UserSecrets): string {
  if (!path.includes(";")) return path;
  return path
    .split("/")
    .map((segment) => {
      const [head, ...params] = segment.split(";");
      const kept = keep(params, extra);
      return kept.length !== params.length ? [head, ...kept].join(";") : segment;
    })
    .join("/");
}

/**
 * `url` without its fragment, user info and secret parameters (pages only; any
 * other URL loses its fragment only). A query whose parameters are all kept is
 * left exactly as it was.
 */
export function scrubUrl(url: string, extra: UserSecrets = NO_USER_SECRETS): string {
  const hashAt = url.indexOf("#");
  const text = hashAt < 0 ? url : url.slice(0, hashAt);
  if (!isPageUrl(text)) return text;
  const start = text.indexOf("//") + 2;
  let end = text.length;
  for (const stop of ["/", "?"]) {
    const found = text.indexOf(stop, start);
    if (found >= 0 && found < end) end = found;
  }
  let authority = text.slice(start, end);
  authority = authority.slice(authority.lastIndexOf("@") + 1);
  const rest = text.slice(end);
  const queryAt = rest.indexOf("?");
  const path = queryAt < 0 ? rest : rest.slice(0, queryAt);
  const scrubbed = text.slice(0, start) + authority + scrubPath(path, extra);
  if (queryAt < 0) return scrubbed;
  const query = rest.slice(queryAt + 1);
  const params = query.split("&");
  const kept = keep(params, extra);
  if (kept.length === params.length) return `${scrubbed}?${query}`;
  return kept.length ? `${scrubbed}?${kept.join("&")}` : scrubbed;
}
