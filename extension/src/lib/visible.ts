/**
 * Visibility rules for text extraction: only what the page shows is read.
 *
 * A content script reads the live page, which also holds text the user never
 * sees (collapsed menus, screen-reader-hidden blocks, templates, pre-rendered
 * dialogs, `display:none` data dumps). `hiddenness` decides from an element's
 * attributes and computed style whether its text is shown; `visibleCopy` makes
 * a copy of the document with every hidden part removed (the live page is never
 * modified), reading computed styles from the live page, where they are known.
 */

/** The computed style properties the rules look at. */
export interface StyleLike {
  display: string;
  visibility: string;
  contentVisibility?: string;
}

/** `subtree`: the element and everything in it is hidden; `self`: only its own text. */
export type Hidden = "subtree" | "self" | null;

const NEVER_SHOWN = new Set(["TEMPLATE", "NOSCRIPT", "SCRIPT", "STYLE", "IFRAME", "OBJECT", "EMBED", "SVG"]);

/** Whether an element's text is shown, from its attributes and computed style. */
export function hiddenness(el: Element, style: StyleLike | null): Hidden {
  if (NEVER_SHOWN.has(el.tagName.toUpperCase())) return "subtree";
  if (el.hasAttribute("hidden") || el.getAttribute("aria-hidden")?.trim().toLowerCase() === "true") return "subtree";
  if (!style) return null;
  if (style.display === "none" || style.contentVisibility === "hidden") return "subtree";
  if (style.visibility === "hidden" || style.visibility === "collapse") return "self";
  return null;
}

/**
 * A copy of `doc` without the hidden parts of its body.
 *
 * @param styleOf - computed style of a live element (`getComputedStyle`); null when unknown.
 */
export function visibleCopy(doc: Document, styleOf: (el: Element) => StyleLike | null): Document {
  const copy = doc.cloneNode(true) as Document;
  if (!doc.body || !copy.body) return copy;
  const live = Array.from(doc.body.getElementsByTagName("*"));
  const copied = Array.from(copy.body.getElementsByTagName("*"));
  const sameShape = live.length === copied.length && live.every((el, i) => el.tagName === copied[i]?.tagName);
  const removals: Node[] = [];
  let hiddenRoot: Element | null = null;
  for (let i = 0; i < copied.length; i++) {
    const el = sameShape ? live[i]! : copied[i]!;
    if (hiddenRoot?.contains(el)) continue;
    const hidden = hiddenness(el, sameShape ? styleOf(el) : null);
    if (hidden === "subtree") {
      hiddenRoot = el;
      removals.push(copied[i]!);
    } else if (hidden === "self") {
      copied[i]!.childNodes.forEach((n) => {
        if (n.nodeType === 3) removals.push(n); // its own text; children decide for themselves
      });
    }
  }
  for (const node of removals) node.parentNode?.removeChild(node);
  return copy;
}
