// Bundles the dashboard's JavaScript islands into web/static/dist (offline, from node_modules).
// ES modules with code splitting: the 3D map (three.js) is a chunk loaded only when the
// user picks the 3D view. The bundle is checked for what the strict CSP forbids.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import fs from "node:fs";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(here, "../static/dist");
fs.rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { mindmap: path.join(here, "src/mindmap.js") },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  chunkNames: "chunk-[hash]",
  minify: true,
  target: ["chrome110", "firefox110", "safari16"],
  legalComments: "linked",
  logLevel: "warning",
});
// script-src 'self' without 'unsafe-eval', style-src 'self' without 'unsafe-inline'.
const forbidden = [/\beval\(/, /new Function\(/, /setAttribute\(\s*["']style["']/];
// (cytoscape creates a <style> element only when its stylesheet link is missing; the map
// page links it, and the e2e tests fail on any CSP violation.)
for (const file of fs.readdirSync(outdir).filter((f) => f.endsWith(".js"))) {
  const text = fs.readFileSync(path.join(outdir, file), "utf8");
  for (const pattern of forbidden) {
    if (pattern.test(text)) throw new Error(`${file} uses ${pattern} which the dashboard's CSP blocks`);
  }
}
console.log(`built ${fs.readdirSync(outdir).filter((f) => f.endsWith(".js")).join(", ")} in web/static/dist`);
