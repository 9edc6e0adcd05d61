// Helpers shared by the 2D and 3D mind maps: branch colours and the graph's tree index
// (DOM helpers and links live with the side panel, panel.js).

export const PALETTE = ["#4f46e5", "#0e9f6e", "#d97706", "#db2777", "#0284c7", "#7c3aed", "#65a30d", "#dc2626"];
export const ROOT_COLOUR = "#151a2d";

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
