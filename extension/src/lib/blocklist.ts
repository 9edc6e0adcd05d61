/**
 * The domain block list, applied before anything is stored: a page on a
 * blocked domain (or any of its subdomains) never leaves the browser.
 */

/**
 * Normalise user input (`https://Mail.Example.com/x`, `.example.com`, `bücher.de`) to a
 * bare domain in the ASCII form browsers report hosts in (`xn--bcher-kva.de`): typed as
 * Unicode, an entry would otherwise never match and its pages would be recorded.
 */
export function normaliseDomain(entry: string): string {
  let d = entry.trim().toLowerCase();
  d = d.replace(/^[a-z][a-z0-9+.-]*:\/\//, "");
  d = d.replace(/[/?#].*$/, "");
  d = d.replace(/:\d+$/, "");
  d = d.replace(/^\*?\.+/, "").replace(/\.+$/, "");
  if (/[^ -~]/.test(d)) {
    try {
      d = new URL(`http://${d}/`).hostname; // the URL parser's IDNA mapping, as for pages
    } catch {
      return "";
    }
  }
  return d;
}

/** Parse a comma/whitespace/newline separated list into unique normalised domains. */
export function parseBlockList(text: string): string[] {
  const out = new Set<string>();
  for (const part of text.split(/[\s,]+/)) {
    const d = normaliseDomain(part);
    if (d) out.add(d);
  }
  return [...out];
}

/** The host of a URL, lower-case, or "" when the URL has none (about:, data:, ...). */
export function hostOf(url: string): string {
  try {
    return new URL(url).hostname.toLowerCase().replace(/\.$/, "");
  } catch {
    return "";
  }
}

/** True when `url`'s host is a blocked domain or a subdomain of one. */
export function isBlocked(url: string, blocked: readonly string[]): boolean {
  const host = hostOf(url);
  if (!host) return false;
  return blocked.some((d) => d !== "" && (host === d || host.endsWith(`.${d}`)));
}
