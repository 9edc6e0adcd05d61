// Drives the real extension in Chromium through the privacy rules of issue 12, for
// tests/security/test_extension_privacy.py: a file:// page, a data: URL, a page with
// hidden text and form fields, a URL with secrets, and a content script trying to read
// the device token. Writes what happened (times, what the content script could read) to
// `out`; the test reads Redis and folds the dwell.
//
// Usage: node extension_privacy.mjs CONFIG_JSON
//   CONFIG_JSON: {extensionDir, profileDir, gatewayUrl, token, dashboardUrl,
//                 pages: {plain, hidden, secretUrl, file, data}, out}
import { writeFileSync } from "node:fs";
import { launch, sleep } from "../support/extension.mjs";

const cfg = JSON.parse(process.argv[2]);
const actions = {};
const results = { actions, checks: {} };

async function act(name, fn) {
  const before = Date.now();
  await fn();
  actions[name] = { before, after: Date.now() };
}

/** What code in the extension's content-script world of `page` can get at. */
async function contentScriptReads(ctx, page, extensionId) {
  const cdp = await ctx.newCDPSession(page);
  const contexts = [];
  cdp.on("Runtime.executionContextCreated", ({ context }) => contexts.push(context));
  await cdp.send("Runtime.enable"); // reports the contexts that exist already
  await sleep(200);
  const world = contexts.find((c) => c.auxData?.type === "isolated" && c.origin === `chrome-extension://${extensionId}`);
  if (!world) throw new Error(`no content-script world: ${JSON.stringify(contexts)}`);
  const expression = `(async () => {
    const out = { runtimeId: chrome.runtime.id };
    const attempt = async (name, f) => {
      try { out[name] = await f(); } catch (e) { out[name] = "refused: " + String((e && e.message) || e); }
    };
    await attempt("local", () => chrome.storage.local.get(null));
    await attempt("sync", () => chrome.storage.sync.get(null));
    await attempt("session", () => chrome.storage.session.get(null));
    await attempt("status", () => chrome.runtime.sendMessage({ kind: "status" }));
    await attempt("databases", async () => (await indexedDB.databases()).map((d) => d.name));
    await attempt("workerFile", async () => (await fetch(chrome.runtime.getURL("background.js"))).status);
    return JSON.stringify(out);
  })()`;
  const answer = await cdp.send("Runtime.evaluate", { expression, contextId: world.id, awaitPromise: true, returnByValue: true });
  if (answer.exceptionDetails) throw new Error(JSON.stringify(answer.exceptionDetails));
  await cdp.detach();
  return JSON.parse(answer.result.value);
}

const { ctx, extensionId, inWorker, command, drained } = await launch(cfg.extensionDir, cfg.profileDir);
try {
  const signIn = await command({ kind: "signIn", gatewayUrl: cfg.gatewayUrl, token: cfg.token, dashboardUrl: cfg.dashboardUrl });
  results.checks.signedIn = signIn.signedIn && !signIn.authError;
  const tab = ctx.pages()[0] ?? (await ctx.newPage());
  await tab.goto(cfg.pages.plain);
  await tab.bringToFront();
  await act("start", () => command({ kind: "start", label: "privacy" }));
  await sleep(1200);
  await act("file", () => tab.goto(cfg.pages.file));
  await sleep(1000);
  await act("data", () => tab.goto(cfg.pages.data));
  await sleep(1000);
  await act("hidden", () => tab.goto(cfg.pages.hidden));
  await tab.fill("#typed", "typed-into-field-secret");
  await sleep(1500);
  await act("secret-url", () => tab.goto(cfg.pages.secretUrl));
  await sleep(1500);
  results.checks.contentScript = await contentScriptReads(ctx, tab, extensionId);
  results.checks.workerHasToken = (await inWorker(() => self.mindhit.status())).signedIn;
  await act("stop", () => command({ kind: "stop" }));
  await drained();
} finally {
  writeFileSync(cfg.out, JSON.stringify(results, null, 2));
  await ctx.close();
}
