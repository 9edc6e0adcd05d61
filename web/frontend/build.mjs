// Bundles the dashboard's JavaScript islands into web/static/dist (offline, from node_modules).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
await build({
  entryPoints: { mindmap: path.join(here, "src/mindmap.js") },
  outdir: path.join(here, "../static/dist"),
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome110", "firefox110", "safari16"],
  legalComments: "linked",
  logLevel: "warning",
});
console.log("built web/static/dist/mindmap.js");
