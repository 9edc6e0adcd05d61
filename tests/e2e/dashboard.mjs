// Drives the MindHit dashboard in headless Chromium (playwright-core + the system browser).
// Usage: node dashboard.mjs <phase> '<json config>'; prints one JSON line with what it saw.
// Phases: "signup" (create an account and a device token through the UI) and "tour"
// (session list, timeline, mind map, search, exports, planted-markup checks, a second
// user who must not see the first user's session). Screenshots go to config.artifacts.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";
import { signUp } from "../support/extension.mjs";

const [phase, raw] = process.argv.slice(2);
const cfg = JSON.parse(raw);
const base = cfg.baseUrl.replace(/\/$/, "");
fs.mkdirSync(cfg.artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: cfg.chromium || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const out = { phase, dialogs: [], cspViolations: [], pageErrors: [], xss: null };

async function newPage(context) {
  const page = await context.newPage();
  page.on("dialog", async (d) => { out.dialogs.push(d.message()); await d.dismiss(); });
  page.on("pageerror", (e) => out.pageErrors.push(String(e)));
  page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) out.cspViolations.push(m.text()); });
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      (window.__csp = window.__csp || []).push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return page;
}

async function shot(page, name) {
  const file = path.join(cfg.artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  (out.screenshots ||= []).push(file);
}

async function signIn(page, email, password) {
  await page.goto(`${base}/login`);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL(/\/sessions/), page.click('button[type="submit"].primary')]);
}

async function xssProbe(page) {
  return page.evaluate(() => ({ xss: window.__xss ?? null, csp: window.__csp ?? [] }));
}

function record(probe) {
  if (probe.xss !== null) out.xss = probe.xss;
  out.cspViolations.push(...probe.csp);
}

try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
  const page = await newPage(context);
  if (phase === "signup") {
    await signUp(page, base, cfg.email, cfg.password);
    await page.fill('input[name="device"]', cfg.device);
    await page.click('#tokens button[type="submit"]');
    await page.waitForSelector("#new-token");
    out.token = await page.inputValue("#new-token");
    out.tokensListed = await page.locator("table.tokens tbody tr").count();
    await shot(page, "01-settings-token");
  } else if (phase === "tour") {
    await signIn(page, cfg.email, cfg.password);
    await page.waitForSelector("table.sessions tbody tr");
    out.sessionRows = await page.locator("table.sessions tbody tr").count();
    out.statuses = await page.locator("table.sessions .status").allTextContents();
    await shot(page, "02-sessions");

    // Timeline of the demo session named in the config.
    await page.goto(`${base}/sessions/${cfg.sessionId}`);
    out.timelineVisits = await page.locator(".timeline li.visit").count();
    out.timelineGaps = await page.locator(".timeline li.gap").count();
    out.domainTotals = await page.locator(".domains-total li").count();
    out.timelineGists = await page.locator(".timeline li.visit summary .gist").count();
    out.timelineChips = await page.locator(".timeline li.visit summary .chip").count();
    await page.locator(".timeline li.visit summary").first().click();
    out.firstVisitDetail = (await page.locator(".timeline details[open] .detail").first().innerText()).slice(0, 400);
    await shot(page, "03-timeline");

    // Mind map island.
    await page.goto(`${base}/sessions/${cfg.sessionId}/map`);
    await page.waitForSelector('#mindmap[data-ready="1"]', { timeout: 15000 });
    out.mapNodes = await page.evaluate(() => window.__mindmap.nodes().length);
    out.mapRootLabel = await page.evaluate(() => window.__mindmap.$("#n0").data("full"));
    // Click the first topic node: the side panel lists its pages.
    const topicPos = await page.evaluate(() => {
      const n = window.__mindmap.nodes("[depth = 1]")[0];
      const p = n.renderedPosition();
      const box = document.getElementById("mindmap").getBoundingClientRect();
      return { x: box.left + p.x, y: box.top + p.y };
    });
    await page.mouse.click(topicPos.x, topicPos.y);
    await page.waitForSelector("#map-pages li");
    out.mapPanelPages = await page.locator("#map-pages li").count();
    out.mapPanelSummary = await page.locator("#map-panel p.summary").allTextContents();
    out.mapBuiltBy = await page.locator(".map-tools .built-by").innerText();
    await shot(page, "04-mindmap");
    // Collapse all hides pages; expand all shows them again.
    // (cytoscape applies class styles on its next frame, hence the waits)
    await page.click("#map-collapse");
    await page.waitForFunction((n) => window.__mindmap.nodes(":visible").length < n, out.mapNodes, { timeout: 5000 });
    out.visibleAfterCollapse = await page.evaluate(() => window.__mindmap.nodes(":visible").length);
    await page.click("#map-expand");
    await page.waitForFunction((n) => window.__mindmap.nodes(":visible").length === n, out.mapNodes, { timeout: 5000 });
    out.visibleAfterExpand = await page.evaluate(() => window.__mindmap.nodes(":visible").length);
    // Zoom changes the zoom level.
    const z0 = await page.evaluate(() => window.__mindmap.zoom());
    await page.click("#map-zoom-in");
    out.zoomedIn = (await page.evaluate(() => window.__mindmap.zoom())) > z0;
    // Exports.
    const [png] = await Promise.all([page.waitForEvent("download"), page.click("#map-png")]);
    const pngPath = path.join(cfg.artifacts, "mindmap-export.png");
    await png.saveAs(pngPath);
    out.pngBytes = fs.statSync(pngPath).size;
    const [svg] = await Promise.all([page.waitForEvent("download"), page.click("#map-svg")]);
    const svgPath = path.join(cfg.artifacts, "mindmap-export.svg");
    await svg.saveAs(svgPath);
    out.svgHead = fs.readFileSync(svgPath, "utf8").slice(0, 200);
    const md = await page.evaluate(async (u) => (await fetch(u)).text(), `${base}/sessions/${cfg.sessionId}/map.md`);
    out.markdownHead = md.slice(0, 300);
    record(await xssProbe(page));

    // Search a word from a demo page.
    await page.goto(`${base}/search?q=${encodeURIComponent(cfg.searchWord)}`);
    out.searchHits = await page.locator("ol.hits li.hit").count();
    out.searchMarks = await page.locator("ol.hits mark").allTextContents();
    out.searchTitles = await page.locator("ol.hits .title").allTextContents();
    await shot(page, "05-search");
    if (out.searchHits > 0) {
      await Promise.all([page.waitForURL(/\/sessions\/[0-9a-f-]+$/), page.locator("ol.hits a.session-ref").first().click()]);
      out.searchLinkedSession = page.url().split("/").pop();
    }

    // Planted markup: a session whose titles, text and summaries carry script and markup.
    if (cfg.xssSessionId) {
      await page.goto(`${base}/sessions/${cfg.xssSessionId}`);
      for (const s of await page.locator(".timeline li.visit summary").all()) await s.click();
      out.xssTitlesShown = await page.locator(".timeline .title").allTextContents();
      out.xssDetailText = (await page.locator(".timeline .detail").allInnerTexts()).join("\n").slice(0, 2000);
      out.xssInjectedElements = await page.evaluate(() => document.querySelectorAll("main img, main script, main iframe, main svg[onload], main b.planted").length);
      await shot(page, "06-planted-markup-timeline");
      record(await xssProbe(page));
      await page.goto(`${base}/search?q=${encodeURIComponent(cfg.xssSearchWord)}`);
      out.xssSearchHits = await page.locator("ol.hits li.hit").count();
      out.xssSearchInjected = await page.evaluate(() => document.querySelectorAll("main img, main script, main iframe, main b.planted").length);
      record(await xssProbe(page));
      await page.goto(`${base}/sessions/${cfg.xssSessionId}/map`);
      await page.waitForSelector('#mindmap[data-ready="1"], section.empty', { timeout: 15000 });
      await page.waitForTimeout(300);
      record(await xssProbe(page));
      await shot(page, "07-planted-markup-map");
    }

    // Pipeline health, and the ops page (this user is an admin).
    await page.goto(`${base}/health`);
    out.healthText = await page.locator("main").innerText();
    await shot(page, "09-health");
    await page.goto(`${base}/ops`);
    out.opsLagRows = await page.locator("table.lag tbody tr").count();
    out.opsText = await page.locator("main").innerText();
    await shot(page, "10-ops");

    // A second user cannot open the first user's session.
    const other = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page2 = await newPage(other);
    await signUp(page2, base, cfg.otherEmail, cfg.password);
    const resp = await page2.goto(`${base}/sessions/${cfg.sessionId}`);
    out.otherUserStatus = resp.status();
    out.otherUserBody = (await page2.locator("main").innerText()).slice(0, 200);
    const api = await page2.evaluate(async (u) => (await fetch(u)).status, `${base}/v1/sessions/${cfg.sessionId}`);
    out.otherUserApiStatus = api;
    const mapApi = await page2.evaluate(async (u) => (await fetch(u)).status, `${base}/v1/sessions/${cfg.sessionId}/mindmap`);
    out.otherUserMapApiStatus = mapApi;
    await page2.goto(`${base}/sessions`);
    out.otherUserSessionRows = await page2.locator("table.sessions tbody tr").count();
    await shot(page2, "08-second-user");
    await other.close();
  } else if (phase === "erase") {
    await signIn(page, cfg.email, cfg.password);
    await page.goto(`${base}/settings`);
    await page.fill('input[name="confirm"]', "ERASE");
    await Promise.all([page.waitForURL(/\/login\?erased=1/), page.click("button.danger")]);
    out.afterEraseUrl = page.url();
    await shot(page, "11-after-erase");
  } else {
    throw new Error(`unknown phase ${phase}`);
  }
  out.ok = true;
} catch (err) {
  out.ok = false;
  out.error = String(err && err.stack ? err.stack : err);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
