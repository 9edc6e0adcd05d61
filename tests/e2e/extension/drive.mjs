// Drives real Chromium with the built MindHit extension through a scripted
// browsing session, for tests/e2e/test_extension.py.
//
// Usage: node drive.mjs CONFIG_JSON
//   CONFIG_JSON: {extensionDir, profileDir, pages: {a, b, c, c2Path, blocked, d}, gatewayUrl,
//                 token, dashboardUrl, dashboardCookie, blockedDomain, out}
//
// It prints "CTRL <command>" lines (kill-gateway, start-gateway) and waits for
// one line on stdin after each, so the test can stop and restart the gateway.
// It writes to `out` the wall-clock time (ms) before and after each action, so
// the test can compare the dwell times the pipeline computes with what was done.
import { writeFileSync } from "node:fs";
import { launch, pytestControl, sleep } from "../../support/extension.mjs";

const cfg = JSON.parse(process.argv[2]);
const actions = [];
const results = { actions, checks: {} };
const { ctrl, close: closeControl } = pytestControl();

async function act(name, fn) {
  const before = Date.now();
  await fn();
  const after = Date.now();
  actions.push({ name, before, after });
  console.error(`action ${name} took ${after - before} ms`);
}

const { ctx, extensionId, workerUrl, inWorker, command } = await launch(cfg.extensionDir, cfg.profileDir);
try {
  const cdp = await ctx.newCDPSession(ctx.pages()[0] ?? (await ctx.newPage()));
  const workerTargets = async () =>
    (await cdp.send("Target.getTargets")).targetInfos.filter((t) => t.type === "service_worker" && t.url === workerUrl);

  // 1. The user is signed in to the dashboard in this browser (its settings cookie), then
  //    signs in the extension and sets a local block list through the popup.
  await ctx.addCookies([{ ...cfg.dashboardCookie, sameSite: "Lax" }]);
  const popup = await ctx.newPage();
  await popup.goto(`chrome-extension://${extensionId}/popup.html`);
  await popup.click("#paste summary"); // pasting a token is the alternative to pairing
  await popup.fill("#gateway", cfg.gatewayUrl);
  await popup.fill("#token", cfg.token);
  await popup.fill("#dashboard", cfg.dashboardUrl);
  await popup.click("#signin-btn");
  await popup.waitForSelector("#main:not([hidden])");
  results.checks.signInMessage = await popup.textContent("#message");
  results.checks.tokenShown = (await popup.content()).includes(cfg.token) || (await popup.inputValue("#token")) !== "";
  await popup.click("#privacy summary");
  await popup.fill("#blocked", cfg.blockedDomain);
  await popup.click("#settings-btn");
  await popup.waitForFunction(() => document.querySelector("#message")?.textContent === "settings saved");
  await popup.waitForFunction(() => document.querySelector("#remote")?.textContent?.includes("synced"));
  const view = await inWorker(() => self.mindhit.status());
  results.checks.settings = {
    blockedDomains: view.blockedDomains,
    remoteBlockedDomains: view.remoteBlockedDomains,
    remoteIdleThresholdS: view.remoteIdleThresholdS,
    remoteHint: await popup.textContent("#remote"),
  };
  await popup.close();

  // chrome://serviceworker-internals can stop the worker the way Chrome does when it is idle;
  // opened now, in a background tab, so it is not part of the session.
  const internals = await ctx.newPage();
  await internals.goto("chrome://serviceworker-internals/");
  async function stopWorker() {
    await inWorker(() => {
      self.e2eMarker = "before-stop";
    });
    await internals.locator(`[data-command=stop]`).first().click();
    const deadline = Date.now() + 10_000;
    while ((await workerTargets()).length > 0) {
      if (Date.now() > deadline) throw new Error("the service worker did not stop");
      await sleep(50);
    }
  }

  // 2. Two tabs open before the session: A in front, B behind.
  const tabA = ctx.pages()[0] ?? (await ctx.newPage());
  await tabA.goto(cfg.pages.a);
  const tabB = await ctx.newPage();
  await tabB.goto(cfg.pages.b);
  await tabA.bringToFront();
  await sleep(500);

  // 3. The scripted session (about 1 s per step).
  await act("start", () => command({ kind: "start", label: "e2e" }));
  await sleep(1000);
  await act("switch-b", () => tabB.bringToFront());
  await sleep(1000);
  await act("switch-a", () => tabA.bringToFront());
  await sleep(1000);
  await act("navigate-c", () => tabA.goto(cfg.pages.c, { waitUntil: "commit" }));
  await sleep(1000);
  // The SPA shows a new route: new URL, new content (read again by the extension 1.5 s later).
  await act("spa-c2", () =>
    tabA.evaluate((path) => {
      history.pushState({}, "", path);
      document.querySelector("article").innerHTML =
        "<h1>Route two</h1>" + "<p>charlie2-marker the second route explains glaciers and moraines in detail.</p>".repeat(12);
    }, cfg.pages.c2Path),
  );
  await sleep(2000);
  await act("idle", () => inWorker(() => self.mindhit.idle("idle")));
  await sleep(1000);
  await act("active", () => inWorker(() => self.mindhit.idle("active")));
  await sleep(300);
  // Stop the worker with events queued but not yet uploaded (the 5 s timer dies with it).
  results.checks.queuedBeforeStop = await inWorker(() => self.mindhit.stats());
  await stopWorker();
  await sleep(200);
  await ctrl("kill-gateway");
  await sleep(300);
  await act("navigate-blocked", () => tabA.goto(cfg.pages.blocked, { waitUntil: "commit" }));
  await sleep(1000);
  await act("switch-b-again", () => tabB.bringToFront());
  await sleep(1000);
  // A new tab (about:blank), then the extension's own page in it: neither is a page.
  let tabN;
  await act("new-tab", async () => {
    tabN = await ctx.newPage();
    await tabN.bringToFront();
  });
  await sleep(300);
  await act("popup-tab", () => tabN.goto(`chrome-extension://${extensionId}/popup.html`));
  await sleep(700);
  await act("back-to-b", () => tabB.bringToFront());
  await sleep(1000);
  await act("navigate-d", () => tabB.goto(cfg.pages.d, { waitUntil: "commit" }));
  await tabB.waitForLoadState("load");
  await sleep(300);
  // Media plays in D (a looping, muted clip: autoplay needs no gesture), then the user
  // goes idle: watching counts, so D's visit must stay open until the session stops.
  await act("play-d", () =>
    tabB.evaluate(async () => {
      const rate = 8000;
      const samples = rate; // one second of silence, 8-bit mono PCM
      const buf = new ArrayBuffer(44 + samples);
      const v = new DataView(buf);
      const put = (o, str) => [...str].forEach((c, i) => v.setUint8(o + i, c.charCodeAt(0)));
      put(0, "RIFF"); v.setUint32(4, 36 + samples, true); put(8, "WAVEfmt ");
      v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
      v.setUint32(24, rate, true); v.setUint32(28, rate, true); v.setUint16(32, 1, true);
      v.setUint16(34, 8, true); put(36, "data"); v.setUint32(40, samples, true);
      new Uint8Array(buf, 44).fill(128);
      const audio = document.createElement("audio");
      audio.src = URL.createObjectURL(new Blob([buf], { type: "audio/wav" }));
      audio.loop = true;
      audio.muted = true;
      document.body.append(audio);
      const playing = new Promise((resolve) => audio.addEventListener("playing", resolve, { once: true }));
      await audio.play();
      await playing;
    }),
  );
  await sleep(300);
  await act("idle-while-playing", () => inWorker(() => self.mindhit.idle("idle")));
  await sleep(800);
  results.checks.workerRestarted = (await workerTargets()).length === 1 && (await inWorker(() => self.e2eMarker)) === undefined;
  results.checks.queuedWhileDown = await inWorker(() => self.mindhit.stats());
  await ctrl("start-gateway");
  await sleep(500);
  await act("stop", () => command({ kind: "stop" }));

  // 4. Wait until everything is uploaded (backoff after the outage included).
  const deadline = Date.now() + 90_000;
  for (;;) {
    const stats = await inWorker(() => self.mindhit.stats());
    if (stats.count === 0 && stats.inflight === 0) break;
    if (Date.now() > deadline) throw new Error(`queue not drained: ${JSON.stringify(stats)}`);
    await sleep(250);
  }
  results.checks.finalStatus = await inWorker(() => self.mindhit.status());
  results.checks.clientId = await inWorker(() => self.mindhit.clientId());

  // 5. The popup shows the result.
  const after = await ctx.newPage();
  await after.goto(`chrome-extension://${extensionId}/popup.html`);
  await after.waitForFunction(() => document.querySelector("#last-upload")?.textContent !== "never");
  results.checks.popup = {
    state: await after.textContent("#state"),
    queued: await after.textContent("#queued"),
    lastUpload: await after.textContent("#last-upload"),
  };
} finally {
  writeFileSync(cfg.out, JSON.stringify(results, null, 2));
  await ctx.close();
  closeControl();
}
