// Opens a session's mind map in headless Chromium (the system browser, playwright-core from
// tests/e2e), clicks every topic node and reports the links the side panel shows.
// Usage: node map_links.mjs '<json {baseUrl, cookies, path, artifacts}>'; prints one JSON line.
import fs from "node:fs";
import path from "node:path";

const { chromium } = await import(new URL("../e2e/node_modules/playwright-core/index.mjs", import.meta.url));
const cfg = JSON.parse(process.argv[2]);
const out = { hrefs: [], texts: [], errors: [] };
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext();
  await context.addCookies(cfg.cookies.map((c) => ({ ...c, url: cfg.baseUrl })));
  const page = await context.newPage();
  page.on("pageerror", (e) => out.errors.push(String(e)));
  await page.goto(cfg.baseUrl + cfg.path);
  await page.waitForSelector("#mindmap[data-ready='1']", { timeout: 30000 });
  const ids = await page.evaluate(() => window.__mindmap.nodes("[depth = 1]").map((n) => n.id()));
  for (const id of ids) {
    await page.evaluate((nodeId) => window.__mindmap.getElementById(nodeId).emit("tap"), id);
    const seen = await page.evaluate(() => ({
      hrefs: [...document.querySelectorAll("#map-pages a")].map((a) => a.getAttribute("href")),
      texts: [...document.querySelectorAll("#map-pages li")].map((li) => li.firstChild.textContent),
    }));
    out.hrefs.push(...seen.hrefs);
    out.texts.push(...seen.texts);
  }
  fs.mkdirSync(cfg.artifacts, { recursive: true });
  await page.screenshot({ path: path.join(cfg.artifacts, "map-links.png") });
} catch (err) {
  out.errors.push(String(err));
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
