// The mind-map island: an interactive map of one session (zoom, pan, expand/collapse,
// node size by dwell, click a node to list its pages), with PNG/SVG export, and the
// 2D / 3D toggle (remembered per user on the server; the 3D code is loaded only when used).
// Labels come from arbitrary websites and AI output: they are drawn on the canvas or set
// with textContent, never parsed as HTML. Only http(s) URLs become links (webHref in
// common.js, the same rule as mindhit/links.py); javascript:, data:, file: stay text.
import cytoscape from "cytoscape";
import cytoscapeSvg from "cytoscape-svg";
import { branchColour, indexGraph } from "./common.js";
import { el, showNodePanel } from "./panel.js";

export { webHref } from "./panel.js";

cytoscape.use(cytoscapeSvg);

function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function elements(graph) {
  const maxWeight = Math.max(1, ...graph.nodes.map((n) => n.weight_ms));
  // The same branch colours as the 3D map (common.js): the i-th topic takes the i-th.
  const { branch } = indexGraph(graph);
  const nodes = graph.nodes.map((n) => {
    const size = n.depth === 0 ? 70 : 22 + 48 * Math.sqrt(n.weight_ms / maxWeight);
    const label = n.label.length > 60 ? n.label.slice(0, 57) + "…" : n.label;
    return {
      data: {
        id: n.id, label, full: n.label, depth: n.depth, weight: n.weight_ms, url: n.url,
        why: n.why, pages: n.pages, summary: n.summary || "", size,
        color: branchColour(branch.get(n.id)),
      },
      classes: n.url ? "page" : n.depth === 0 ? "root" : "topic",
    };
  });
  const edges = graph.edges.map((e) => ({ data: { id: `${e.source}->${e.target}`, source: e.source, target: e.target } }));
  return [...nodes, ...edges];
}

// A radial tree: leaves evenly spaced on the outer ring in depth-first order, each inner
// node at the middle angle of its leaves, ring radius by depth. No edge ever crosses.
export function radialPositions(graph) {
  const children = new Map(graph.nodes.map((n) => [n.id, []]));
  for (const n of graph.nodes) if (n.parent) children.get(n.parent).push(n.id);
  const depthOf = new Map(graph.nodes.map((n) => [n.id, n.depth]));
  const maxDepth = Math.max(1, ...graph.nodes.map((n) => n.depth));
  const leaves = [];
  const walk = (id) => { const kids = children.get(id); if (!kids.length) leaves.push(id); kids.forEach(walk); };
  walk("n0");
  const outer = Math.max(320, (leaves.length * 95) / (2 * Math.PI));
  const angle = new Map();
  leaves.forEach((id, i) => angle.set(id, (2 * Math.PI * i) / leaves.length - Math.PI / 2));
  const place = (id) => {
    const kids = children.get(id);
    if (!kids.length) return angle.get(id);
    const a = kids.map(place);
    angle.set(id, (a[0] + a[a.length - 1]) / 2);
    return angle.get(id);
  };
  place("n0");
  const positions = {};
  for (const n of graph.nodes) {
    const r = n.depth === 0 ? 0 : (outer * depthOf.get(n.id)) / maxDepth;
    positions[n.id] = { x: r * Math.cos(angle.get(n.id)), y: r * Math.sin(angle.get(n.id)) };
  }
  return positions;
}

// The 2D map (cytoscape): radial layout, expand/collapse, PNG/SVG export.
function mount2d(container, view, panel) {
  const cy = cytoscape({
    container,
    elements: elements(view.graph),
    minZoom: 0.15,
    maxZoom: 4,
    style: [
      { selector: "node", style: {
        width: "data(size)", height: "data(size)", "background-color": "data(color)",
        label: "data(label)", "font-size": 12, color: "#1d2230", "text-wrap": "wrap", "text-max-width": 160,
        "text-valign": "bottom", "text-margin-y": 4, "text-background-color": "#fff", "text-background-opacity": 0.85,
        "text-background-padding": 2, "border-width": 2, "border-color": "#fff" } },
      { selector: "node.root", style: { "font-size": 17, "font-weight": 700, "text-max-width": 220 } },
      { selector: "node.topic", style: { "font-size": 14, "font-weight": 600 } },
      { selector: "node.page", style: { shape: "round-rectangle", "background-opacity": 0.75, "font-size": 13 } },
      { selector: "node.collapsed", style: { "border-color": "#1d2230", "border-style": "double", "border-width": 4 } },
      { selector: "node:selected", style: { "border-color": "#fbbf24", "border-width": 4 } },
      { selector: "edge", style: { width: 2, "line-color": "#cbd2e1", "curve-style": "bezier" } },
      { selector: ".hidden", style: { display: "none" } },
    ],
    layout: { name: "preset", positions: radialPositions(view.graph), padding: 30, fit: true },
  });
  window.__mindmap = cy; // lets tests and power users inspect the map

  const collapse = (node) => { node.successors().addClass("hidden"); node.addClass("collapsed"); };
  const expand = (node) => {
    node.removeClass("collapsed");
    node.outgoers("node").forEach((child) => {
      child.removeClass("hidden");
      node.edgesTo(child).removeClass("hidden");
      if (!child.hasClass("collapsed")) expand(child);
    });
  };
  cy.on("tap", "node", (evt) => showNodePanel(panel, view.graph, evt.target.id()));
  cy.on("dbltap", "node", (evt) => {
    const node = evt.target;
    if (node.outgoers("node").length === 0) return;
    if (node.hasClass("collapsed")) expand(node); else collapse(node);
  });
  const centre = () => ({ x: cy.width() / 2, y: cy.height() / 2 });
  container.dataset.ready = "1";
  return {
    fit: () => cy.fit(cy.elements(":visible"), 30),
    zoomIn: () => cy.zoom({ level: cy.zoom() * 1.25, renderedPosition: centre() }),
    zoomOut: () => cy.zoom({ level: cy.zoom() / 1.25, renderedPosition: centre() }),
    expand: () => { cy.elements().removeClass("hidden collapsed"); cy.fit(undefined, 30); },
    collapse: () => { cy.nodes("[depth = 1]").forEach(collapse); cy.fit(cy.elements(":visible"), 30); },
    png: async () => download(`mindmap-${container.dataset.session}.png`, await cy.png({ full: true, scale: 2, bg: "#ffffff", output: "blob-promise" })),
    svg: () => download(`mindmap-${container.dataset.session}.svg`, new Blob([cy.svg({ full: true, bg: "#ffffff" })], { type: "image/svg+xml" })),
  };
}

// Why the 3D view cannot be shown here ("" when it can): reduced motion or a data saver
// asked for, or no WebGL (then the 2D map is shown with this note).
function why3dUnavailable(webglAvailable) {
  if (window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches) {
    return "Your system asks for reduced motion, so the map is shown in 2D.";
  }
  if (navigator.connection && navigator.connection.saveData) {
    return "Data saver is on, so the map is shown in 2D.";
  }
  if (!webglAvailable()) return "This browser cannot draw 3D graphics (no WebGL), so the map is shown in 2D.";
  return "";
}

async function savePreference(mapView) {
  const token = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const response = await fetch("/v1/settings/display", {
    method: "PUT",
    credentials: "same-origin",
    headers: { "content-type": "application/json", accept: "application/json", "x-csrftoken": token },
    body: JSON.stringify({ map_view: mapView }),
  });
  return response.ok;
}

async function main() {
  const container = document.getElementById("mindmap");
  if (!container) return;
  const stage3d = document.getElementById("mindmap3d");
  const panel = document.getElementById("map-panel");
  const note = document.getElementById("map-note");
  const response = await fetch(container.dataset.src, { headers: { accept: "application/json" }, credentials: "same-origin" });
  if (!response.ok) {
    container.replaceChildren(el("p", { class: "card empty", text: "The mind map could not be loaded." }));
    return;
  }
  const view = await response.json();
  let map2d = null;
  let map3d = null;
  let current = null;
  const only2d = document.querySelectorAll(".only-2d");
  const pressed = (mode) => {
    for (const m of ["2d", "3d"]) document.getElementById(`map-view-${m}`)?.setAttribute("aria-pressed", String(m === mode));
  };
  const show2d = () => {
    if (stage3d) stage3d.hidden = true;
    container.hidden = false;
    only2d.forEach((b) => { b.hidden = false; });
    if (!map2d) map2d = mount2d(container, view, panel);
    current = map2d;
    document.body.dataset.mapView = "2d";
  };
  const show3d = async () => {
    const module = await import("./map3d.js");
    const reason = why3dUnavailable(module.webglAvailable);
    note.textContent = reason;
    note.hidden = !reason;
    if (reason || !stage3d) {
      show2d();
      return;
    }
    container.hidden = true;
    stage3d.hidden = false;
    only2d.forEach((b) => { b.hidden = true; });
    if (!map3d) {
      map3d = module.mount3d(stage3d, view, { onSelect: (id) => showNodePanel(panel, view.graph, id) });
      window.__map3d = map3d; // lets tests inspect the 3D map
      stage3d.dataset.ready = "1";
    }
    current = map3d;
    document.body.dataset.mapView = "3d";
  };
  const choose = async (mode, save) => {
    pressed(mode);
    if (save) await savePreference(mode);
    if (mode === "3d") await show3d(); else { note.hidden = true; show2d(); }
  };
  const on = (id, fn) => document.getElementById(id)?.addEventListener("click", fn);
  on("map-view-2d", () => choose("2d", true));
  on("map-view-3d", () => choose("3d", true));
  on("map-fit", () => current?.fit());
  on("map-zoom-in", () => current?.zoomIn());
  on("map-zoom-out", () => current?.zoomOut());
  on("map-expand", () => map2d?.expand());
  on("map-collapse", () => map2d?.collapse());
  on("map-png", () => map2d?.png());
  on("map-svg", () => map2d?.svg());
  await choose(container.dataset.view === "3d" ? "3d" : "2d", false);
}

main();
