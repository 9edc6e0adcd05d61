// Shared helpers of the feature scripts: the system Chromium (WebGL through SwiftShader,
// so the 3D map draws headless), pages that record dialogs, errors and CSP violations,
// sign-in, screenshots, and CSRF-carrying API calls from inside the page.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

export const CHROMIUM_ARGS = [
  "--no-sandbox", "--no-first-run", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
];

export async function launch(cfg) {
  return chromium.launch({ executablePath: cfg.chromium || "/usr/bin/chromium", headless: true, args: CHROMIUM_ARGS });
}

export function recorder(out) {
  out.dialogs ||= [];
  out.cspViolations ||= [];
  out.pageErrors ||= [];
  return async function newPage(context) {
    const page = await context.newPage();
    page.on("dialog", async (d) => { out.dialogs.push(d.message()); await d.dismiss(); });
    page.on("pageerror", (e) => out.pageErrors.push(String(e)));
    page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) out.cspViolations.push(m.text()); });
    return page;
  };
}

export function shooter(cfg, out) {
  fs.mkdirSync(cfg.artifacts, { recursive: true });
  return async function shot(page, name) {
    const file = path.join(cfg.artifacts, `${name}.png`);
    await page.screenshot({ path: file, fullPage: false });
    (out.screenshots ||= []).push(file);
    return file;
  };
}

export async function signIn(page, base, email, password) {
  await page.goto(`${base}/login`);
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForURL(/\/sessions/), page.click('button[type="submit"].primary')]);
}

// fetch() from inside the signed-in page, with the CSRF token the dashboard expects.
export async function api(page, method, url, body) {
  return page.evaluate(async ({ method, url, body }) => {
    const token = document.querySelector('meta[name="csrf-token"]')?.content || "";
    const r = await fetch(url, {
      method, credentials: "same-origin",
      headers: { accept: "application/json", "content-type": "application/json", "x-csrftoken": token },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, json, text: text.slice(0, 500) };
  }, { method, url, body });
}
