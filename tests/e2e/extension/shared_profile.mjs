// A queue the gateway refused, then another pairing, for tests/e2e/test_shared_profile.py.
//
// scenario "shared": one browser profile, two people. Ann connects the extension to her
// account, signs out everywhere on the dashboard (her device token is revoked), then
// records a page: the gateway refuses it, the extension keeps it queued. Bob signs up in
// the same browser and connects the extension to his account, then records a page of his
// own. The test waits (CTRL visits) until Bob's visit reached the pipeline.
//
// scenario "erase": Ann records a page (uploaded, CTRL first waits for it), signs out
// everywhere, records another (refused, queued), erases all her data, signs in again,
// connects the extension again and records a third page (CTRL visits waits for it).
//
// Usage: node shared_profile.mjs CONFIG_JSON
//   CONFIG_JSON: {scenario, extensionDir, profileDir, webUrl, ann, bob, password,
//                 pages: {ann, bob} | {first, queued, after}, artifacts, out}
import { writeFileSync } from "node:fs";
import { launch, pytestControl, screenshots, signUp, sleep } from "../../support/extension.mjs";

const cfg = JSON.parse(process.argv[2]);
const results = { checks: {} };
const shot = screenshots(cfg.artifacts);
const { ctrl, close: closeControl } = pytestControl();

const { ctx, extensionId, inWorker, drained } = await launch(cfg.extensionDir, cfg.profileDir);

async function signIn(web, email) {
  await web.goto(`${cfg.webUrl}/login`);
  await web.fill("input[name=email]", email);
  await web.fill("input[name=password]", cfg.password);
  await Promise.all([web.waitForURL((url) => !url.pathname.startsWith("/login")), web.click("button[type=submit]")]);
}

async function signOutEverywhere(web) {
  await web.bringToFront();
  await web.goto(`${cfg.webUrl}/settings`);
  await Promise.all([web.waitForURL(/\/login/), web.click("form[action='/settings/sign-out-everywhere'] button")]);
  await sleep(6_000); // past any gateway token cache: the revoked token is refused from now on
}

/** Upload until the gateway refuses the token; how many events wait in the queue then. */
async function refusedQueue() {
  const deadline = Date.now() + 30_000;
  while (!(await inWorker(() => self.mindhit.status())).authError) {
    if (Date.now() > deadline) throw new Error("the gateway never refused the token");
    await inWorker(() => self.mindhit.flush());
    await sleep(250);
  }
  const stats = await inWorker(() => self.mindhit.stats());
  return stats.count + stats.inflight;
}

/** Connect to MindHit from the popup, confirm on the pairing page; the worker's status after. */
async function connect(popup, device) {
  await popup.reload();
  await popup.waitForSelector("#signin:not([hidden])");
  await popup.fill("#dashboard", cfg.webUrl);
  const opened = ctx.waitForEvent("page", { timeout: 20_000 });
  await popup.click("#connect-btn");
  const pairPage = await opened;
  await pairPage.waitForSelector("#pair-confirm");
  await pairPage.fill("input[name=device]", device);
  const closed = pairPage.waitForEvent("close", { timeout: 30_000 });
  await pairPage.click("#pair-confirm");
  await closed; // the extension took its token and closed the tab
  return inWorker(() => self.mindhit.status());
}

/** Start a session (labelled `label`) in the popup, show `url` for a while, then stop the
 * session unless `stop` is false. */
async function record(popup, tab, url, { label = "", stop = true } = {}) {
  await popup.reload();
  await popup.waitForSelector("#main:not([hidden])");
  await popup.fill("#label", label);
  await popup.click("#start-btn");
  await popup.waitForSelector("#stop-btn:not([hidden])");
  await tab.bringToFront();
  await tab.goto(url);
  await sleep(1_500);
  await tab.goto("about:blank");
  await popup.bringToFront();
  if (!stop) return;
  await popup.click("#stop-btn");
  await popup.waitForSelector("#start-btn:not([hidden])");
}

async function shared(web, popup, tab) {
  // 1. Ann connects the extension, then signs out everywhere: her token is revoked.
  await signUp(web, cfg.webUrl, cfg.ann, cfg.password);
  results.checks.ann = await connect(popup, "shared laptop (Ann)");
  await signOutEverywhere(web);

  // 2. Ann records a page (her session left running); the gateway refuses the upload, the
  // extension keeps it queued.
  await record(popup, tab, cfg.pages.ann, { label: cfg.annLabel, stop: false });
  results.checks.annQueued = await refusedQueue();
  await popup.reload();
  await shot(popup, "shared-1-ann-refused");

  // 3. Bob signs up in the same browser and connects the extension to his account.
  await web.bringToFront();
  await signUp(web, cfg.webUrl, cfg.bob, cfg.password);
  results.checks.bob = await connect(popup, "shared laptop (Bob)");
  const after = await inWorker(() => self.mindhit.stats());
  results.checks.queuedAfterBob = after.count + after.inflight;
  await popup.reload();
  await popup.waitForSelector("#main:not([hidden])");
  results.checks.popupForBob = await popup.textContent("body");
  await shot(popup, "shared-2-bob-connected");

  // 4. Bob records a page of his own; everything queued is uploaded.
  await record(popup, tab, cfg.pages.bob);
  await drained();
  await ctrl("visits");
}

async function erase(web, popup, tab) {
  // 1. Ann connects and records a page, uploaded and shown in her timeline.
  await signUp(web, cfg.webUrl, cfg.ann, cfg.password);
  results.checks.ann = await connect(popup, "laptop");
  await record(popup, tab, cfg.pages.first);
  await drained();
  await ctrl("first");

  // 2. Signed out everywhere, she records another: refused, kept in the queue.
  await signOutEverywhere(web);
  await record(popup, tab, cfg.pages.queued);
  results.checks.annQueued = await refusedQueue();

  // 3. She erases all her data, signs in again and connects the extension again.
  await signIn(web, cfg.ann);
  await web.goto(`${cfg.webUrl}/settings`);
  await web.fill("form[action='/settings/erase'] input[name=confirm]", "ERASE");
  await Promise.all([web.waitForURL(/\/login/), web.click("form[action='/settings/erase'] button")]);
  await sleep(1_000); // past the erasure's cut (the pipeline's gateway caches no token)
  await signIn(web, cfg.ann);
  results.checks.again = await connect(popup, "laptop");
  const after = await inWorker(() => self.mindhit.stats());
  results.checks.queuedAfterAgain = after.count + after.inflight;
  await popup.reload();
  await shot(popup, "erase-1-connected-again");

  // 4. What she records now is kept.
  await record(popup, tab, cfg.pages.after);
  await drained();
  await ctrl("visits");
}

try {
  const web = ctx.pages()[0] ?? (await ctx.newPage());
  const popup = await ctx.newPage();
  await popup.goto(`chrome-extension://${extensionId}/popup.html`);
  const tab = await ctx.newPage();
  await (cfg.scenario === "erase" ? erase : shared)(web, popup, tab);
} finally {
  writeFileSync(cfg.out, JSON.stringify(results, null, 2));
  await ctx.close();
  closeControl();
}
