// Shared by the browser drivers of the end-to-end tests: the dashboard's sign-up, and for
// the extension's tests playwright-core with the system Chromium, the unpacked extension
// loaded, and handles on its service worker.
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

function loadPlaywright() {
  for (const base of [join(here, "../../extension/"), join(here, "../e2e/")]) {
    try {
      return createRequire(base)("playwright-core");
    } catch {
      // try the next place
    }
  }
  throw new Error("playwright-core not installed (npm ci in extension/)");
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The driver's side of pytest's controller: ctrl(command) prints "CTRL <command>" and
// waits for pytest's "ok" on stdin (it stops or starts a component meanwhile); close()
// lets go of stdin so the driver can exit.
export function pytestControl() {
  const stdin = createInterface({ input: process.stdin });
  const lines = stdin[Symbol.asyncIterator]();
  async function ctrl(command) {
    console.log(`CTRL ${command}`);
    const { value } = await lines.next();
    if (value !== "ok") throw new Error(`controller answered ${value} to ${command}`);
  }
  return { ctrl, close: () => stdin.close() };
}

// A function saving a full-page screenshot of a page as <artifacts>/<name>.png.
export function screenshots(artifacts) {
  mkdirSync(artifacts, { recursive: true });
  return (page, name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

// A new account through the dashboard's sign-up in `web` (a page of the browser under
// test): the form, the mailed link (shown on the page when the dashboard has no mail
// server), the password again; leaves `web` signed in on /settings.
export async function signUp(web, webUrl, email, password) {
  await web.goto(`${webUrl}/signup`);
  await web.fill("input[name=email]", email);
  await web.fill("input[name=password]", password);
  await web.fill("input[name=password2]", password);
  await web.click("button[type=submit].primary");
  await web.click("#finish-link");
  await web.waitForURL(/\/signup\/finish/);
  await web.fill("input[name=password]", password);
  await Promise.all([web.waitForURL(/\/settings/), web.click("button[type=submit].primary")]);
}

/**
 * Launch Chromium with the extension in `extensionDir`, profile in `profileDir`.
 * Returns the context, the extension id and helpers reaching the running worker.
 */
export async function launch(extensionDir, profileDir) {
  const { chromium } = loadPlaywright();
  const ctx = await chromium.launchPersistentContext(profileDir, {
    executablePath: "/usr/bin/chromium",
    headless: false,
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--disable-extensions-except=${extensionDir}`,
      `--load-extension=${extensionDir}`,
    ],
  });
  const first = ctx.serviceWorkers()[0] ?? (await ctx.waitForEvent("serviceworker"));
  const workerUrl = first.url();
  const extensionId = new URL(workerUrl).host;
  // The worker handle of the running instance (it changes when the worker restarts).
  const worker = async () =>
    ctx.serviceWorkers().find((w) => w.url() === workerUrl) ??
    (await ctx.waitForEvent("serviceworker", { predicate: (w) => w.url() === workerUrl }));
  const inWorker = async (fn, arg) => (await worker()).evaluate(fn, arg);
  const command = (msg) => inWorker((m) => self.mindhit.command(m), msg);
  /** Wait until every queued event is uploaded. */
  const drained = async (timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await inWorker(() => self.mindhit.flush());
      const stats = await inWorker(() => self.mindhit.stats());
      if (stats.count === 0 && stats.inflight === 0) return;
      if (Date.now() > deadline) throw new Error(`queue not drained: ${JSON.stringify(stats)}`);
      await sleep(250);
    }
  };
  return { ctx, extensionId, workerUrl, worker, inWorker, command, drained };
}
