/**
 * Page text extraction for the content script: the readable main text
 * (Mozilla Readability), its title and language, capped, and a SHA-256 hash.
 *
 * Only what the page shows is read (see visible.ts: no `hidden`, `display:none`,
 * `visibility:hidden`, `aria-hidden`, `<template>`, `<noscript>`), and form
 * controls never contribute: inputs, text areas, selects, editable regions,
 * text boxes and anything marked as a password are removed from a copy of the
 * page before Readability sees it, so typed or prefilled values cannot leak.
 */
import { Readability } from "@mozilla/readability";
import { clip, storable } from "./events";
import { type StyleLike, visibleCopy } from "./visible";

/** What a page yields. */
export interface Extracted {
  title: string;
  lang: string;
  text: string;
}

const NEVER = [
  "input",
  "textarea",
  "select",
  "option",
  "datalist",
  "output",
  "button",
  "script",
  "style",
  "noscript",
  "template",
  "iframe",
  "[contenteditable]:not([contenteditable='false'])",
  "[role='textbox' i]",
  "[role='searchbox' i]",
  "[role='combobox' i]",
  "[type='password' i]",
  "[autocomplete*='password' i]",
  "[aria-hidden='true' i]",
  "[hidden]",
].join(",");

/** Collapse runs of blanks, keep paragraph breaks, trim. */
export function normaliseText(text: string): string {
  return storable(text)
    .replace(/\r\n?/g, "\n")
    .replace(/[ \t\f\v\u00a0]+/g, " ")
    .replace(/ *\n */g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** The computed style of a live element, when its document has a window. */
export function computedStyle(el: Element): StyleLike | null {
  const view = el.ownerDocument.defaultView;
  return view ? view.getComputedStyle(el) : null;
}

/**
 * Extract the readable, visible text of `doc`, at most `cap` characters.
 *
 * Works on a copy: the live page is never modified.
 */
export function extract(doc: Document, cap: number, styleOf: (el: Element) => StyleLike | null = computedStyle): Extracted {
  const visible = visibleCopy(doc, styleOf);
  visible.querySelectorAll(NEVER).forEach((n) => n.remove());
  const lang = (doc.documentElement.getAttribute("lang") ?? "").trim();
  let text = "";
  let title = doc.title ?? "";
  try {
    const article = new Readability(visible.cloneNode(true) as Document, { charThreshold: 100 }).parse();
    if (article?.textContent) text = article.textContent;
    if (article?.title) title = article.title;
  } catch {
    text = "";
  }
  if (normaliseText(text).length < 50) {
    // Readability found no article (short or app-like page): fall back to the body text.
    text = visible.body?.textContent ?? "";
  }
  return { title: storable(title.trim()), lang: storable(lang), text: clip(normaliseText(text), cap) };
}

/** Lower-case hex SHA-256 of `text` (UTF-8), via WebCrypto. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
