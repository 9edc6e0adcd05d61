// Drives the dashboard features of issue 16 in headless Chromium (playwright-core and the
// system browser). Usage: node features.mjs <phase> '<json config>'; prints one JSON line.
// Phases: "map3d" (the 3D mind map), "overview" (insight across sessions), "owning"
// (rename, delete, undo), "export" (download everything). Screenshots go to cfg.artifacts.
import fs from "node:fs";
import path from "node:path";
import { api, launch, recorder, shooter, signIn } from "./browser.mjs";

const [phase, raw] = process.argv.slice(2);
const cfg = JSON.parse(raw);
const base = cfg.baseUrl.replace(/\/$/, "");
const out = { phase };
const newPage = recorder(out);
const shot = shooter(cfg, out);
const browser = await launch(cfg);

async function map3d(context) {
  const page = await newPage(context);
  await signIn(page, base, cfg.email, cfg.password);
  await page.goto(`${base}/sessions/${cfg.sessionId}/map`);
  await page.waitForSelector('#mindmap[data-ready="1"]', { timeout: 20000 });
  out.initialView = await page.evaluate(() => document.body.dataset.mapView);
  await page.click("#map-view-3d");
  await page.waitForSelector('#mindmap3d[data-ready="1"]', { timeout: 30000 });
  out.view = await page.evaluate(() => document.body.dataset.mapView);
  out.nodes3d = await page.evaluate(() => window.__map3d.nodeCount);
  out.nodes2d = await page.evaluate(() => window.__mindmap.nodes().length);
  // Each node's colour in both views (a topic and its pages share their branch's).
  out.colours2d = await page.evaluate(() =>
    Object.fromEntries(window.__mindmap.nodes().map((n) => [n.id(), n.data("color")])));
  out.colours3d = await page.evaluate(() => window.__map3d.colours());
  out.topics = await page.evaluate(() => window.__mindmap.nodes("[depth = 1]").map((n) => n.id()));
  out.sample = await page.evaluate(() => window.__map3d.sample());
  out.canvasVisible = await page.locator("#mindmap3d canvas").isVisible();
  out.expandHidden = await page.locator("#map-expand").isHidden();
  await shot(page, "20-mindmap-3d");
  // Click the first branch sphere where it is drawn: the shared panel lists its pages
  // and the camera flies to it.
  const target = await page.evaluate(() => {
    const topic = window.__mindmap.nodes("[depth = 1]")[0];
    return { id: topic.id(), label: topic.data("full") };
  });
  const before = await page.evaluate(() => window.__map3d.cameraDistance());
  const at = await page.evaluate((id) => window.__map3d.screenPosition(id), target.id);
  await page.mouse.click(at.x, at.y);
  await page.waitForSelector("#map-pages li", { timeout: 10000 });
  out.clicked = target;
  out.selected = await page.evaluate(() => window.__map3d.selected);
  out.panelTitle = await page.locator("#map-panel h2").innerText();
  out.panelPages = await page.locator("#map-pages li").count();
  await page.waitForFunction(() => !window.__map3d.flying, null, { timeout: 10000 });
  out.flewCloser = (await page.evaluate(() => window.__map3d.cameraDistance())) < before;
  await shot(page, "21-mindmap-3d-selected");
  // Orbit with the mouse: the picture changes.
  const box = await page.locator("#mindmap3d canvas").boundingBox();
  const drawnBefore = await page.evaluate(() => window.__map3d.sample().drawn);
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 + 200, box.y + box.height / 2 + 40, { steps: 8 });
  await page.mouse.up();
  out.orbitChanged = (await page.evaluate(() => window.__map3d.sample().drawn)) !== drawnBefore;
  // The choice is remembered on the server: a reload opens 3D again.
  out.savedSetting = (await api(page, "GET", `${base}/v1/settings/display`)).json;
  await page.reload();
  await page.waitForSelector('#mindmap3d[data-ready="1"]', { timeout: 30000 });
  out.viewAfterReload = await page.evaluate(() => document.body.dataset.mapView);
  // Reduced motion: the 2D map with a note, though 3D stays the saved choice.
  const calm = await browser.newContext({ viewport: { width: 1440, height: 900 }, reducedMotion: "reduce" });
  const calmPage = await newPage(calm);
  await signIn(calmPage, base, cfg.email, cfg.password);
  await calmPage.goto(`${base}/sessions/${cfg.sessionId}/map`);
  await calmPage.waitForSelector('#mindmap[data-ready="1"]', { timeout: 20000 });
  out.reducedView = await calmPage.evaluate(() => document.body.dataset.mapView);
  out.reducedNote = await calmPage.locator("#map-note").innerText();
  out.reducedCanvas = await calmPage.locator("#mindmap3d canvas").count();
  await shot(calmPage, "22-mindmap-reduced-motion");
  await calm.close();
  // Back to 2D (the toggle saves it again).
  await page.click("#map-view-2d");
  await page.waitForFunction(() => document.body.dataset.mapView === "2d");
  out.finalSetting = (await api(page, "GET", `${base}/v1/settings/display`)).json;
}

async function owning(context) {
  const page = await newPage(context);
  await signIn(page, base, cfg.email, cfg.password);
  out.rowsBefore = await page.locator("table.sessions tbody tr").count();
  // Rename from the session page.
  await page.goto(`${base}/sessions/${cfg.renameId}`);
  await page.click("details.manage summary");
  await page.fill('form.rename input[name="label"]', cfg.newName);
  await Promise.all([page.waitForURL(`${base}/sessions/${cfg.renameId}`), page.click("form.rename button")]);
  out.headingAfterRename = await page.locator("h1").innerText();
  await shot(page, "30-renamed");
  const listed = (await api(page, "GET", `${base}/v1/sessions`)).json.sessions;
  out.apiLabel = listed.find((s) => s.session_id === cfg.renameId)?.label;
  out.badRename = (await api(page, "PUT", `${base}/v1/sessions/${cfg.renameId}/name`, { label: "x".repeat(201) })).status;
  out.otherRename = (await api(page, "PUT", `${base}/v1/sessions/00000000-0000-7000-8000-000000000000/name`, { label: "y" })).status;
  // Delete from the list, see the undo banner, undo.
  await page.goto(`${base}/sessions`);
  const row = page.locator(`tr[data-session="${cfg.deleteId}"]`);
  await Promise.all([page.waitForURL(/deleted=/), row.locator("form.delete button").click()]);
  out.bannerShown = await page.locator(`.undo-banner[data-deleted="${cfg.deleteId}"]`).isVisible();
  out.rowsWhileDeleted = await page.locator("table.sessions tbody tr").count();
  out.timelineWhileDeleted = (await page.goto(`${base}/sessions/${cfg.deleteId}`)).status();
  await page.goBack();
  await shot(page, "31-deleted-undo-banner");
  await Promise.all([page.waitForURL(/restored=/), page.click(`.undo-banner[data-deleted="${cfg.deleteId}"] button.undo`)]);
  out.rowsAfterUndo = await page.locator("table.sessions tbody tr").count();
  out.bannerAfterUndo = await page.locator(".undo-banner").count();
  await shot(page, "32-after-undo");
  // Delete for good through the API this time; the undo window runs out.
  const removed = await api(page, "POST", `${base}/v1/sessions/${cfg.deleteId}/deletion`);
  out.deleteStatus = removed.status;
  out.deleteState = removed.json;
  out.pending = (await api(page, "GET", `${base}/v1/deletions`)).json.map((d) => d.session_id);
}

async function tooLate(context) {
  const page = await newPage(context);
  await signIn(page, base, cfg.email, cfg.password);
  out.restoreStatus = (await api(page, "DELETE", `${base}/v1/sessions/${cfg.deleteId}/deletion`)).status;
  out.rows = await page.locator("table.sessions tbody tr").count();
  out.timelineStatus = (await page.goto(`${base}/sessions/${cfg.deleteId}`)).status();
}

async function exporting(context) {
  const page = await newPage(context);
  await signIn(page, base, cfg.email, cfg.password);
  await page.goto(`${base}/settings`);
  await Promise.all([page.waitForURL(/\/settings\/history/), page.click("#history-link")]);
  await page.fill('input[name="days"]', "3650");
  await Promise.all([page.waitForURL(/saved=1/), page.click('form button[type="submit"].primary')]);
  out.retention = (await api(page, "GET", `${base}/v1/settings/retention`)).json;
  await shot(page, "40-history-export");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
  out.zipPath = path.join(cfg.artifacts, "export.zip");
  await download.saveAs(out.zipPath);
  out.zipName = download.suggestedFilename();
  out.zipBytes = fs.statSync(out.zipPath).size;
  const viaApi = await page.evaluate(async (u) => {
    const r = await fetch(u, { credentials: "same-origin" });
    return { status: r.status, type: r.headers.get("content-type"), bytes: (await r.arrayBuffer()).byteLength };
  }, `${base}/v1/export`);
  out.apiExport = viaApi;
  await page.fill('input[name="days"]', "");
  await Promise.all([page.waitForURL(/saved=1/), page.click('form button[type="submit"].primary')]);
}

async function overview(context) {
  const page = await newPage(context);
  await signIn(page, base, cfg.email, cfg.password);
  for (const period of ["week", "month"]) {
    const date = period === "week" ? cfg.weekDate ?? cfg.date : cfg.date;
    await page.goto(`${base}/overview?period=${period}&date=${date}`);
    const seen = {
      heading: await page.locator("h1").innerText(),
      total: await page.locator("#total").innerText(),
      dayBars: await page.locator("#per-day .day-bar").count(),
      domains: await page.locator("#domains .figure").count(),
      pages: await page.locator("#pages .figure").count(),
      topics: await page.locator("#topics .figure").count(),
      tags: await page.locator("#tags .figure").count(),
      heatActive: await page.locator("#heatmap rect.heat:not(.heat-0)").count(),
      heatCells: await page.locator("#heatmap rect.heat").count(),
    };
    seen.api = (await api(page, "GET", `${base}/v1/overview?period=${period}&date=${date}`)).json;
    await shot(page, period === "week" ? "50-overview-week" : "51-overview-month");
    out[period] = seen;
  }
  // Every figure links to the sessions behind it: the top domain's, a topic's, a day's.
  await page.goto(`${base}/overview?period=month&date=${cfg.date}`);
  const follow = async (selector) => {
    await Promise.all([page.waitForURL(/\/overview\/sessions\?/), page.locator(selector).first().click()]);
    const ids = await page.locator("table.sessions tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.session));
    const heading = await page.locator("h1").innerText();
    await page.goBack();
    return { ids, heading };
  };
  out.domainSessions = await follow("#domains .figure");
  out.topicSessions = await follow("#topics .figure");
  out.pageSessions = await follow("#pages .figure");
  await page.locator("#domains .figure").first().click();
  await page.waitForURL(/\/overview\/sessions\?/);
  await shot(page, "52-overview-sessions-behind");
  out.behindApi = (await api(page, "GET", `${base}/v1/overview/sessions?from=${cfg.monthStart}&to=${cfg.monthEnd}`)).json.map((s) => s.session_id);
  out.badPeriod = (await api(page, "GET", `${base}/v1/overview?period=year`)).status;
  out.badDate = (await api(page, "GET", `${base}/v1/overview?date=yesterday`)).status;
}

const phases = { map3d, owning, tooLate, exporting, overview };
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
  if (!phases[phase]) throw new Error(`unknown phase ${phase}`);
  await phases[phase](context);
  out.ok = true;
} catch (err) {
  out.ok = false;
  out.error = String(err && err.stack ? err.stack : err);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
