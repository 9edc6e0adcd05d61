// Helpers shared by the 2D and 3D mind maps: colours, durations, DOM building, tree index.
// Labels come from arbitrary websites and AI output: they are set with textContent or
// drawn on a canvas, never parsed as HTML.

export const PALETTE = ["#4f46e5", "#0e9f6e", "#d97706", "#db2777", "#0284c7", "#7c3aed", "#65a30d", "#dc2626"];
export const ROOT_COLOUR = "#151a2d";

export function minutes(ms) {
  if (!ms) return "";
  const m = ms / 60000;
  return m < 1 ? `${Math.round(ms / 1000)} s` : `${m.toFixed(m < 10 ? 1 : 0)} min`;
}

// The URL when it is an absolute http(s) URL with a host and no control characters (the
// same rule as mindhit/links.py): javascript:, data:, file: and the like stay text.
export function webHref(url) {
  if (typeof url !== "string" || !/^https?:\/\/[^\s/?#\\]/i.test(url)) return null;
  return /[\x00-\x1f\x7f]/.test(url) ? null : url;
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

// The graph's tree: node by id, children by id, and each node's branch (the index of
// its depth-1 ancestor in document order; -1 for the root). Nodes arrive depth-first.
export function indexGraph(graph) {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const children = new Map(graph.nodes.map((n) => [n.id, []]));
  for (const n of graph.nodes) if (n.parent && children.has(n.parent)) children.get(n.parent).push(n.id);
  const branch = new Map();
  let next = 0;
  for (const n of graph.nodes) {
    branch.set(n.id, n.depth === 0 ? -1 : n.depth === 1 ? next++ : branch.get(n.parent) ?? -1);
  }
  return { byId, children, branch };
}

export function branchColour(branch) {
  return branch < 0 ? ROOT_COLOUR : PALETTE[branch % PALETTE.length];
}
