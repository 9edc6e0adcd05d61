// The mind map's side panel: what a selected node is about (label, time, pages, the
// branch's one-sentence summary, why its pages belong together) and its pages as links.
// Shared by every map view (the 2D cytoscape map, the 3D map): call
// `renderPanel(panel, node)` with a plain object, never with view-specific node types, or
// `showNodePanel(panel, graph, id)` with the map's graph and a node id.
// Text comes from arbitrary websites and AI output: it is set with textContent only.
// Only http(s) URLs become links (webHref, the same rule as mindhit/links.py);
// javascript:, data:, file: and the like stay text.

import { indexGraph } from "./common.js";

export function minutes(ms) {
  if (!ms) return "";
  const m = ms / 60000;
  return m < 1 ? `${Math.round(ms / 1000)} s` : `${m.toFixed(m < 10 ? 1 : 0)} min`;
}

export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.appendChild(child);
  return node;
}

// The URL when it is an absolute http(s) URL with a host and no control characters.
export function webHref(url) {
  if (typeof url !== "string" || !/^https?:\/\/[^\s/?#\\]/i.test(url)) return null;
  return /[\x00-\x1f\x7f]/.test(url) ? null : url;
}

/**
 * Show one selected node in `panel`.
 * @param {HTMLElement} panel the side panel element (its content is replaced)
 * @param {{label: string, weight_ms?: number, pages?: number, summary?: string, why?: string,
 *          url?: string, leaves: Array<{label: string, url: string, weight_ms?: number, why?: string}>}} node
 *   `leaves` are the pages below the node (the node itself when it is a page).
 */
export function renderPanel(panel, node) {
  panel.replaceChildren();
  panel.appendChild(el("h2", { text: node.label }));
  const pages = node.pages ?? node.leaves.length;
  const meta = [minutes(node.weight_ms), `${pages} page${pages === 1 ? "" : "s"}`].filter(Boolean).join(" · ");
  panel.appendChild(el("p", { class: "muted", text: meta }));
  if (node.summary) panel.appendChild(el("p", { class: "summary", text: node.summary }));
  if (node.why) panel.appendChild(el("p", { class: "why", text: node.why }));
  const list = el("ul", { id: "map-pages" });
  for (const leaf of node.leaves) {
    const href = webHref(leaf.url);
    const link = href
      ? el("a", { href, rel: "noopener noreferrer nofollow", target: "_blank", text: leaf.label })
      : el("span", { class: "not-web", title: leaf.url || "", text: leaf.label });
    const item = el("li", {}, [link]);
    const dwell = minutes(leaf.weight_ms);
    if (dwell) item.appendChild(el("div", { class: "why", text: dwell }));
    if (leaf.why && leaf.url !== node.url) item.appendChild(el("div", { class: "why", text: leaf.why }));
    list.appendChild(item);
  }
  panel.appendChild(list);
}

const indexes = new WeakMap();

function indexOf(graph) {
  let index = indexes.get(graph);
  if (!index) {
    index = indexGraph(graph);
    indexes.set(graph, index);
  }
  return index;
}

// The pages (nodes with a url) at or under `id`, depth-first.
export function pagesUnder(graph, id) {
  const { byId, children } = indexOf(graph);
  const found = [];
  const walk = (nodeId) => {
    const node = byId.get(nodeId);
    if (!node) return;
    if (node.url) found.push(node);
    for (const child of children.get(nodeId) || []) walk(child);
  };
  walk(id);
  return found;
}

// Show node `id` of the map's graph (the API's nodes: label, weight_ms, pages, summary,
// why, url) in `panel`; every view calls this with the node the user picked.
export function showNodePanel(panel, graph, id) {
  const node = indexOf(graph).byId.get(id);
  if (!panel || !node) return;
  renderPanel(panel, {
    label: node.label, weight_ms: node.weight_ms, pages: node.pages, summary: node.summary,
    why: node.why, url: node.url,
    leaves: pagesUnder(graph, id).map((leaf) => ({ label: leaf.label, url: leaf.url, weight_ms: leaf.weight_ms, why: leaf.why })),
  });
  panel.dataset.node = id;
}
