// "Connect to MindHit" in real Chromium, for tests/e2e/test_pairing.py: a new user signs
// up on the dashboard, types the dashboard URL into the extension's popup (slowly: the
// popup refreshes meanwhile), clicks Connect, confirms the device name on the pairing
// page the extension opened, and the extension picks up its token. Then a session is
// recorded from the popup over two pages; the test waits (CTRL visits) until the pipeline
// shows the visits, and the driver screenshots the session's timeline. Then a session
// the server stops (CTRL stop) ends in the extension at its next upload. Last, a session
// the server closes for lack of events (CTRL idle) goes on in a new session with what
// the extension recorded after the close (CTRL continued).
//
// Usage: node pair.mjs CONFIG_JSON
//   CONFIG_JSON: {extensionDir, profileDir, webUrl, email, password, device,
//                 pages: {a, b}, artifacts, out}
import { writeFileSync } from "node:fs";
import { launch, pytestControl, screenshots, signUp, sleep } from "../../support/extension.mjs";

const cfg = JSON.parse(process.argv[2]);
const results = { checks: {} };
const shot = screenshots(cfg.artifacts);
const { ctrl, close: closeControl } = pytestControl();

const { ctx, extensionId, inWorker, drained } = await launch(cfg.extensionDir, cfg.profileDir);
try {
  // 1. A new user signs up on the dashboard in this browser.
  const web = ctx.pages()[0] ?? (await ctx.newPage());
  await signUp(web, cfg.webUrl, cfg.email, cfg.password);

  // 2. The popup, signed out: the dashboard URL typed in survives the 2 s refreshes.
  const popup = await ctx.newPage();
  await popup.goto(`chrome-extension://${extensionId}/popup.html`);
  await popup.waitForSelector("#signin:not([hidden])");
  await popup.fill("#dashboard", "");
  await popup.type("#dashboard", cfg.webUrl.slice(0, 12), { delay: 30 });
  await sleep(2_500); // typing paused, focus still in the field
  await popup.click("#paste summary"); // focus elsewhere, nothing submitted yet
  await sleep(2_500);
  results.checks.halfTyped = await popup.inputValue("#dashboard");
  await popup.focus("#dashboard");
  await popup.keyboard.press("End");
  await popup.keyboard.type(cfg.webUrl.slice(12), { delay: 10 });
  await sleep(2_200);
  results.checks.typed = await popup.inputValue("#dashboard");
  await shot(popup, "pairing-1-popup");

  // 3. Connect: the extension opens the pairing page; the user confirms the device name.
  const opened = ctx.waitForEvent("page", { timeout: 20_000 });
  await popup.click("#connect-btn");
  const pairPage = await opened.catch(async (err) => {
    throw new Error(`no pairing tab (${err}); popup says: ${await popup.textContent("body")}`);
  });
  await pairPage.waitForSelector("#pair-confirm");
  results.checks.pairUrl = pairPage.url();
  await pairPage.fill("input[name=device]", cfg.device);
  await shot(pairPage, "pairing-2-confirm");
  const closed = pairPage.waitForEvent("close", { timeout: 30_000 });
  await pairPage.click("#pair-confirm");
  await closed; // the extension took its token and closed the tab
  const status = await inWorker(() => self.mindhit.status());
  results.checks.status = { signedIn: status.signedIn, authError: status.authError, pairing: status.pairing, gatewayUrl: status.gatewayUrl };
  await popup.reload();
  await popup.waitForSelector("#main:not([hidden])");
  results.checks.popupText = await popup.textContent("body");
  results.checks.popupHtml = await popup.content();
  await shot(popup, "pairing-3-connected");

  // 4. A session recorded from the popup: page A, then page B, then stop.
  await popup.click("#start-btn");
  await popup.waitForSelector("#stop-btn:not([hidden])");
  const tab = await ctx.newPage();
  await tab.goto(cfg.pages.a);
  await tab.bringToFront();
  await sleep(1_500);
  await tab.goto(cfg.pages.b);
  await sleep(1_500);
  await popup.bringToFront();
  await popup.click("#stop-btn");
  await popup.waitForSelector("#start-btn:not([hidden])");
  await drained();
  results.checks.clientId = await inWorker(() => self.mindhit.clientId());

  // 5. The pipeline shows the visits: the timeline of the session, in the dashboard.
  await ctrl("visits");
  await web.bringToFront();
  await web.goto(`${cfg.webUrl}/sessions`);
  await web.click("a.session-link");
  await web.waitForSelector("main");
  results.checks.timelineText = await web.textContent("main");
  await shot(web, "pairing-4-timeline");

  // 6. A session the server stops (CTRL stop: through the API, as the dashboard's Stop or
  //    the idle close do) ends in the extension at its next upload, and the popup says why.
  /** Start a session named `label` from the popup, read page A in it, upload. */
  const recordPageA = async (label) => {
    await popup.bringToFront();
    await popup.fill("#label", label);
    await popup.click("#start-btn");
    await popup.waitForSelector("#stop-btn:not([hidden])");
    await tab.bringToFront();
    await tab.goto(cfg.pages.a);
    await sleep(1_000);
    await drained();
  };
  await recordPageA("left running");
  await ctrl("stop");
  await tab.goto(cfg.pages.b);
  await sleep(1_000);
  await drained();
  const after = await inWorker(() => self.mindhit.status());
  results.checks.afterServerStop = { recording: after.recording, sessionStartedAt: after.sessionStartedAt, sessionEnded: after.sessionEnded };
  await popup.reload();
  await popup.waitForSelector("#start-btn:not([hidden])");
  results.checks.stateAfterServerStop = await popup.textContent("#state");
  await shot(popup, "pairing-5-stopped-by-the-server");

  // 7. The server closes a session that had no event for MINDHIT_SESSION_IDLE_CLOSE_S
  //    (short here; hours offline in life; CTRL idle waits for the housekeeping to do it).
  //    What the extension records after the close goes on in a new session ("… (continued)")
  //    instead of being lost, and the popup says so.
  await recordPageA("back online");
  const beforeClose = await inWorker(() => self.mindhit.status());
  await ctrl("idle");
  await tab.goto(cfg.pages.b);
  await sleep(2_000);
  await drained();
  const continued = await inWorker(() => self.mindhit.status());
  results.checks.afterIdleClose = {
    recording: continued.recording,
    sessionLabel: continued.sessionLabel,
    sessionContinued: continued.sessionContinued,
    startedBefore: beforeClose.sessionStartedAt,
    startedAfter: continued.sessionStartedAt,
  };
  await popup.reload();
  await popup.waitForSelector("#stop-btn:not([hidden])");
  results.checks.stateAfterIdleClose = await popup.textContent("#state");
  await shot(popup, "pairing-6-continued-after-an-idle-close");
  await popup.click("#stop-btn");
  await popup.waitForSelector("#start-btn:not([hidden])");
  await drained();
  await ctrl("continued");
} finally {
  writeFileSync(cfg.out, JSON.stringify(results, null, 2));
  await ctx.close();
  closeControl();
}
