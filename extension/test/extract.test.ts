import { createHash } from "node:crypto";
import { JSDOM } from "jsdom";
import { describe, expect, it } from "vitest";
import { draft } from "../src/lib/events";
import { extract, normaliseText, sha256Hex } from "../src/lib/extract";

const article = (extra: string) => `<!doctype html><html lang="de-AT"><head><title>Page title</title></head><body>
  <nav>Home | About</nav>
  <article><h1>Rivers of Europe</h1>
  ${Array.from({ length: 8 }, (_, i) => `<p>The Danube is paragraph ${i} of a long article about rivers, flowing through many countries and cities.</p>`).join("\n")}
  ${extra}
  </article></body></html>`;

describe("extract", () => {
  it("returns the readable text, title and language", () => {
    const doc = new JSDOM(article("")).window.document;
    const page = extract(doc, 100_000);
    expect(page.text).toContain("The Danube is paragraph 0");
    expect(page.text).toContain("paragraph 7");
    expect(page.lang).toBe("de-AT");
    expect(page.title.length).toBeGreaterThan(0);
  });

  it("never takes text from password fields, inputs or text areas", () => {
    const form = `<form><input type="text" value="typed-secret"><input type="password" value="hunter2">
      <textarea>draft-secret</textarea><select><option>option-secret</option></select>
      <div contenteditable="true">editable-secret</div><span data-x autocomplete="current-password">pw-secret</span></form>`;
    const doc = new JSDOM(article(form)).window.document;
    const page = extract(doc, 100_000);
    for (const s of ["typed-secret", "hunter2", "draft-secret", "option-secret", "editable-secret", "pw-secret"]) {
      expect(page.text).not.toContain(s);
    }
    expect(doc.querySelector("textarea")?.textContent).toBe("draft-secret"); // the live page is untouched
  });

  it("falls back to the body text on short, app-like pages", () => {
    const doc = new JSDOM(`<html><body><div id="app"><h2>Inbox zero</h2><p>Nothing here today, enjoy your afternoon.</p></div></body></html>`).window.document;
    expect(extract(doc, 1000).text).toContain("Nothing here today");
  });

  it("caps the text", () => {
    const doc = new JSDOM(article("")).window.document;
    expect(extract(doc, 120).text.length).toBeLessThanOrEqual(120);
  });

  it("hashes with SHA-256 in lower-case hex", async () => {
    const text = "Grüße, world";
    expect(await sha256Hex(text)).toBe(createHash("sha256").update(text, "utf8").digest("hex"));
  });

  it("normalises whitespace but keeps paragraphs", () => {
    expect(normaliseText("  a \t b \n\n\n\n c  ")).toBe("a b\n\nc");
  });

  it("sends a NUL character of the page as U+FFFD (the gateway refuses a NUL), hashed as sent", async () => {
    const doc = new JSDOM(article("")).window.document;
    doc.title = "Tab\u0000title";
    doc.querySelector("article p")?.append(doc.createTextNode(" Some\u0000words"));
    const page = extract(doc, 100_000);
    expect(page.title).toBe("Tab\uFFFDtitle");
    expect(page.text).toContain("Some\uFFFDwords");
    expect(page.text).not.toContain("\u0000");
    const event = draft({ type: "tab.activated", tab_id: 1, window_id: 1, url: "https://a.example/", title: "A\u0000B" }, { clientId: "c", sessionId: "s", ts: 1 });
    expect(event).toMatchObject({ title: "A\uFFFDB" });
  });
});
