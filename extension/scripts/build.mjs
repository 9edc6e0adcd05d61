// Builds the unpacked extension into dist/: bundles the service worker, the
// content script and the popup with esbuild, and copies manifest and HTML.
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const common = { bundle: true, target: "chrome120", sourcemap: true, logLevel: "warning" };
await build({ ...common, entryPoints: [join(root, "src/background.ts")], outfile: join(dist, "background.js"), format: "esm" });
await build({ ...common, entryPoints: [join(root, "src/content.ts")], outfile: join(dist, "content.js"), format: "iife" });
await build({ ...common, entryPoints: [join(root, "src/popup.ts")], outfile: join(dist, "popup.js"), format: "iife" });
for (const file of ["manifest.json", "popup.html", "popup.css"]) {
  cpSync(join(root, "static", file), join(dist, file));
}
console.info(`built ${dist}`);
