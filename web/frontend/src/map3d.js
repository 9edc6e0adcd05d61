// The 3D mind map (three.js, bundled; loaded only when the user chose the 3D view):
// spheres sized by dwell and coloured by branch, labels that always face the camera,
// orbit / zoom / pan, click a sphere to list its pages in the shared side panel, and a
// short camera flight to the selected node. Rendering happens on demand (after a camera
// move or during a flight), never in a busy loop. Labels are drawn on a canvas with
// fillText: untrusted text is never parsed as HTML.
import {
  AmbientLight, BufferGeometry, CanvasTexture, Color, DirectionalLight, Float32BufferAttribute,
  LineBasicMaterial, LineSegments, Mesh, MeshLambertMaterial, PerspectiveCamera, Raycaster,
  Scene, SphereGeometry, Sprite, SpriteMaterial, SRGBColorSpace, Vector2, Vector3, WebGLRenderer,
} from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { branchColour, indexGraph } from "./common.js";

const BACKGROUND = 0xf7f8fc;
const GOLDEN = Math.PI * (3 - Math.sqrt(5));
const RING = 150; // distance between depth levels

// Whether this browser can draw WebGL at all (no WebGL = the 2D map is shown instead).
export function webglAvailable() {
  try {
    const canvas = document.createElement("canvas");
    return Boolean(canvas.getContext("webgl2") || canvas.getContext("webgl"));
  } catch {
    return false;
  }
}

function basis(dir) {
  const helper = Math.abs(dir.y) < 0.9 ? new Vector3(0, 1, 0) : new Vector3(1, 0, 0);
  const u = new Vector3().crossVectors(dir, helper).normalize();
  const v = new Vector3().crossVectors(dir, u).normalize();
  return [u, v];
}

// A deterministic 3D tree layout: branches spread evenly over a sphere around the root
// (Fibonacci sphere), every child in a cone around its parent's direction, one ring
// further out per depth level. Returns id -> Vector3.
export function positions3d(graph) {
  const { children } = indexGraph(graph);
  const out = new Map([["n0", new Vector3(0, 0, 0)]]);
  const dirs = new Map();
  const top = children.get("n0") || [];
  top.forEach((id, i) => {
    const y = top.length === 1 ? 0 : 1 - (2 * (i + 0.5)) / top.length;
    const r = Math.sqrt(1 - y * y);
    const dir = new Vector3(Math.cos(GOLDEN * i) * r, y, Math.sin(GOLDEN * i) * r).normalize();
    dirs.set(id, dir);
  });
  const place = (id, depth) => {
    const dir = dirs.get(id);
    out.set(id, dir.clone().multiplyScalar(RING * depth));
    const kids = children.get(id) || [];
    const [u, v] = basis(dir);
    const spread = Math.min(0.85, 0.18 + 0.07 * kids.length) / Math.sqrt(depth);
    kids.forEach((kid, i) => {
      const theta = spread * Math.sqrt((i + 0.5) / kids.length);
      const phi = i * GOLDEN;
      const side = u.clone().multiplyScalar(Math.cos(phi)).add(v.clone().multiplyScalar(Math.sin(phi)));
      dirs.set(kid, dir.clone().multiplyScalar(Math.cos(theta)).add(side.multiplyScalar(Math.sin(theta))).normalize());
      place(kid, depth + 1);
    });
  };
  top.forEach((id) => place(id, 1));
  return out;
}

function labelSprite(text, depth) {
  const shown = text.length > 48 ? `${text.slice(0, 45)}…` : text;
  const px = depth === 0 ? 44 : depth === 1 ? 36 : 30;
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  const font = `${depth <= 1 ? 600 : 400} ${px}px system-ui, sans-serif`;
  ctx.font = font;
  const width = Math.ceil(ctx.measureText(shown).width) + 24;
  canvas.width = width;
  canvas.height = px + 20;
  ctx.font = font;
  ctx.fillStyle = "rgba(255,255,255,0.7)";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#1d2230";
  ctx.textBaseline = "middle";
  ctx.fillText(shown, 12, canvas.height / 2);
  const texture = new CanvasTexture(canvas);
  texture.colorSpace = SRGBColorSpace;
  const sprite = new Sprite(new SpriteMaterial({ map: texture, depthWrite: false, transparent: true }));
  const scale = depth === 0 ? 0.2 : 0.15;
  sprite.scale.set(canvas.width * scale, canvas.height * scale, 1);
  sprite.renderOrder = 1;
  return sprite;
}

// Mount the 3D map into `container`; `onSelect(id)` runs when a node is clicked.
// Returns a controller: fit, zoom, select, destroy, and test hooks.
export function mount3d(container, view, { onSelect, animate = true } = {}) {
  const graph = view.graph;
  const { branch } = indexGraph(graph);
  const width = Math.max(200, container.clientWidth);
  const height = Math.max(200, container.clientHeight);
  const renderer = new WebGLRenderer({ antialias: true });
  renderer.setPixelRatio(Math.min(2, window.devicePixelRatio || 1));
  renderer.setSize(width, height);
  renderer.setClearColor(BACKGROUND, 1);
  container.replaceChildren(renderer.domElement);
  const scene = new Scene();
  scene.add(new AmbientLight(0xffffff, 1.6));
  const sun = new DirectionalLight(0xffffff, 1.6);
  sun.position.set(300, 500, 400);
  scene.add(sun);
  const camera = new PerspectiveCamera(50, width / height, 1, 20000);
  const controls = new OrbitControls(camera, renderer.domElement);
  controls.enableDamping = false;
  controls.screenSpacePanning = true;

  const pos = positions3d(graph);
  const maxWeight = Math.max(1, ...graph.nodes.map((n) => n.weight_ms));
  const meshes = [];
  const geometry = new SphereGeometry(1, 24, 16);
  for (const node of graph.nodes) {
    const radius = node.depth === 0 ? 16 : 4 + 14 * Math.sqrt(node.weight_ms / maxWeight);
    const material = new MeshLambertMaterial({ color: new Color(branchColour(branch.get(node.id))) });
    const mesh = new Mesh(geometry, material);
    mesh.scale.setScalar(radius);
    mesh.position.copy(pos.get(node.id));
    mesh.userData = { id: node.id, radius };
    scene.add(mesh);
    meshes.push(mesh);
    const label = labelSprite(node.label, node.depth);
    label.position.copy(mesh.position).add(new Vector3(0, radius + 8, 0));
    scene.add(label);
  }
  const points = [];
  for (const e of graph.edges) {
    const a = pos.get(e.source);
    const b = pos.get(e.target);
    if (a && b) points.push(a.x, a.y, a.z, b.x, b.y, b.z);
  }
  const lines = new BufferGeometry();
  lines.setAttribute("position", new Float32BufferAttribute(points, 3));
  scene.add(new LineSegments(lines, new LineBasicMaterial({ color: 0xb8c0d4 })));

  const render = () => renderer.render(scene, camera);
  controls.addEventListener("change", render);

  let flight = null;
  const flyTo = (target, distance) => {
    const toTarget = target.clone();
    const direction = camera.position.clone().sub(controls.target).normalize();
    const toCamera = toTarget.clone().add(direction.multiplyScalar(distance));
    if (!animate) {
      controls.target.copy(toTarget);
      camera.position.copy(toCamera);
      controls.update();
      render();
      return;
    }
    const from = { target: controls.target.clone(), camera: camera.position.clone() };
    const began = performance.now();
    if (flight) cancelAnimationFrame(flight);
    const step = (now) => {
      const t = Math.min(1, (now - began) / 650);
      const k = t < 0.5 ? 2 * t * t : 1 - (-2 * t + 2) ** 2 / 2;
      controls.target.lerpVectors(from.target, toTarget, k);
      camera.position.lerpVectors(from.camera, toCamera, k);
      controls.update();
      render();
      flight = t < 1 ? requestAnimationFrame(step) : null;
    };
    flight = requestAnimationFrame(step);
  };

  const fit = () => {
    let radius = 1;
    for (const m of meshes) radius = Math.max(radius, m.position.length() + m.userData.radius);
    const distance = (radius / Math.tan((camera.fov * Math.PI) / 360)) * 0.85 + 20;
    controls.target.set(0, 0, 0);
    camera.position.set(distance * 0.35, distance * 0.45, distance * 0.82);
    camera.lookAt(0, 0, 0);
    controls.update();
    render();
  };

  let selected = null;
  const select = (id) => {
    const mesh = meshes.find((m) => m.userData.id === id);
    if (!mesh) return;
    if (selected) selected.material.emissive.setHex(0x000000);
    selected = mesh;
    mesh.material.emissive.setHex(0x5a4a00);
    flyTo(mesh.position, 280 + mesh.userData.radius * 6);
    if (onSelect) onSelect(id);
  };

  const raycaster = new Raycaster();
  const pointer = new Vector2();
  let down = null;
  const canvas = renderer.domElement;
  canvas.addEventListener("pointerdown", (e) => { down = { x: e.clientX, y: e.clientY }; });
  canvas.addEventListener("pointerup", (e) => {
    if (!down || Math.hypot(e.clientX - down.x, e.clientY - down.y) > 5) return;
    const box = canvas.getBoundingClientRect();
    pointer.set(((e.clientX - box.left) / box.width) * 2 - 1, -((e.clientY - box.top) / box.height) * 2 + 1);
    raycaster.setFromCamera(pointer, camera);
    const hit = raycaster.intersectObjects(meshes, false)[0];
    if (hit) select(hit.object.userData.id);
  });
  const resize = () => {
    const w = Math.max(200, container.clientWidth);
    const h = Math.max(200, container.clientHeight);
    renderer.setSize(w, h);
    camera.aspect = w / h;
    camera.updateProjectionMatrix();
    render();
  };
  window.addEventListener("resize", resize);
  fit();

  const zoom = (factor) => {
    const offset = camera.position.clone().sub(controls.target).multiplyScalar(factor);
    camera.position.copy(controls.target).add(offset);
    controls.update();
    render();
  };
  return {
    fit,
    zoomIn: () => zoom(0.8),
    zoomOut: () => zoom(1.25),
    select,
    nodeCount: meshes.length,
    get selected() { return selected ? selected.userData.id : null; },
    get flying() { return flight !== null; },
    cameraDistance: () => camera.position.distanceTo(controls.target),
    // Each node's sphere colour, "#rrggbb" by node id.
    colours: () => Object.fromEntries(meshes.map((m) => [m.userData.id, `#${m.material.color.getHexString()}`])),
    // Where node `id` is drawn, in page coordinates (tests click there).
    screenPosition(id) {
      const mesh = meshes.find((m) => m.userData.id === id);
      if (!mesh) return null;
      const p = mesh.position.clone().project(camera);
      const box = canvas.getBoundingClientRect();
      return { x: box.left + ((p.x + 1) / 2) * box.width, y: box.top + ((1 - p.y) / 2) * box.height };
    },
    // Draw a frame and count its pixels that differ from the background, and how many
    // distinct colours appear (coarse buckets): proof that the canvas really draws.
    sample() {
      render();
      const gl = renderer.getContext();
      const w = gl.drawingBufferWidth;
      const h = gl.drawingBufferHeight;
      const px = new Uint8Array(w * h * 4);
      gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
      const bg = new Color(BACKGROUND);
      const [br, bgG, bb] = [bg.r * 255, bg.g * 255, bg.b * 255];
      let drawn = 0;
      const colours = new Set();
      for (let i = 0; i < px.length; i += 4) {
        if (Math.abs(px[i] - br) + Math.abs(px[i + 1] - bgG) + Math.abs(px[i + 2] - bb) > 24) {
          drawn += 1;
          colours.add(`${px[i] >> 5},${px[i + 1] >> 5},${px[i + 2] >> 5}`);
        }
      }
      return { width: w, height: h, drawn, colours: colours.size };
    },
    destroy() {
      window.removeEventListener("resize", resize);
      if (flight) cancelAnimationFrame(flight);
      controls.dispose();
      renderer.dispose();
      container.replaceChildren();
    },
  };
}
