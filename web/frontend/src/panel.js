// The side panel of the mind map, shared by the 2D and the 3D view: a node's label, its
// dwell and page count, why it was grouped, and the pages under it (links).
import { el, indexGraph, minutes, webHref } from "./common.js";

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

export function showNodePanel(panel, graph, id) {
  const node = indexOf(graph).byId.get(id);
  if (!panel || !node) return;
  panel.replaceChildren();
  panel.appendChild(el("h2", { text: node.label }));
  const count = node.pages;
  const meta = [minutes(node.weight_ms), `${count} page${count === 1 ? "" : "s"}`].filter(Boolean).join(" · ");
  panel.appendChild(el("p", { class: "muted", text: meta }));
  if (node.why) panel.appendChild(el("p", { class: "why", text: node.why }));
  const list = el("ul", { id: "map-pages" });
  for (const leaf of pagesUnder(graph, id)) {
    const href = webHref(leaf.url);
    const link = href
      ? el("a", { href, rel: "noopener noreferrer nofollow", target: "_blank", text: leaf.label })
      : el("span", { class: "not-web", title: leaf.url || "", text: leaf.label });
    const item = el("li", {}, [link]);
    const dwell = minutes(leaf.weight_ms);
    if (dwell) item.appendChild(el("div", { class: "why", text: dwell }));
    if (leaf.why && leaf.id !== id) item.appendChild(el("div", { class: "why", text: leaf.why }));
    list.appendChild(item);
  }
  panel.appendChild(list);
  panel.dataset.node = id;
}
