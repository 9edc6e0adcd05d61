/** Visibility rules: only text the page shows is extracted (jsdom computes the styles). */
import { JSDOM } from "jsdom";
import { describe, expect, it } from "vitest";
import { extract } from "../src/lib/extract";
import { hiddenness, visibleCopy } from "../src/lib/visible";

const LONG = Array.from({ length: 8 }, (_, i) => `<p>Visible paragraph ${i} about glaciers carving valleys over many thousands of years.</p>`).join("");

function page(body: string, css = ""): Document {
  return new JSDOM(`<!doctype html><html lang="en"><head><title>T</title><style>${css}</style></head><body>${body}</body></html>`).window.document;
}

const HIDDEN = `
  <div hidden>hidden-attr-secret</div>
  <div style="display:none">display-none-secret</div>
  <div class="gone">stylesheet-none-secret</div>
  <div style="visibility:hidden">visibility-secret<span style="visibility:visible">shown-child</span></div>
  <div aria-hidden="true">aria-secret</div>
  <template><p>template-secret</p></template>
  <noscript>noscript-secret</noscript>
  <div style="content-visibility:hidden">cv-secret</div>
  <form><input value="input-secret"><input type="password" value="pw-secret"><textarea>textarea-secret</textarea>
  <select><option>select-secret</option></select></form>
  <div contenteditable>editable-secret</div><div role="textbox">textbox-secret</div>`;
const SECRETS = [
  "hidden-attr-secret", "display-none-secret", "stylesheet-none-secret", "visibility-secret", "aria-secret",
  "template-secret", "noscript-secret", "cv-secret", "input-secret", "pw-secret", "textarea-secret",
  "select-secret", "editable-secret", "textbox-secret",
];

describe("hiddenness", () => {
  it("tells hidden subtrees from elements whose own text only is hidden", () => {
    const doc = page("<p id=a hidden>x</p><p id=b aria-hidden=TRUE>x</p><template id=c></template><p id=d>x</p>");
    const style = { display: "block", visibility: "visible" };
    expect(hiddenness(doc.getElementById("a")!, style)).toBe("subtree");
    expect(hiddenness(doc.getElementById("b")!, style)).toBe("subtree");
    expect(hiddenness(doc.getElementById("c")!, style)).toBe("subtree");
    expect(hiddenness(doc.getElementById("d")!, style)).toBeNull();
    expect(hiddenness(doc.getElementById("d")!, { display: "none", visibility: "visible" })).toBe("subtree");
    expect(hiddenness(doc.getElementById("d")!, { display: "block", visibility: "hidden" })).toBe("self");
    expect(hiddenness(doc.getElementById("d")!, { display: "block", visibility: "visible", contentVisibility: "hidden" })).toBe("subtree");
  });
});

describe("visible text only", () => {
  it("drops hidden parts and form fields, keeps what is shown (article and fallback)", () => {
    for (const body of [`<article><h1>Glaciers</h1>${LONG}${HIDDEN}</article>`, `<div id=app><p>Short app text shown.</p>${HIDDEN}</div>`]) {
      const doc = page(body, ".gone { display: none }");
      const text = extract(doc, 100_000).text;
      for (const secret of SECRETS) expect(text, secret).not.toContain(secret);
      expect(text).toMatch(/Visible paragraph 7|Short app text shown/);
      if (body.startsWith("<div")) expect(text).toContain("shown-child"); // Readability keeps only the article
    }
  });

  it("never modifies the live page", () => {
    const doc = page(`<article>${LONG}${HIDDEN}</article>`, ".gone { display: none }");
    const before = doc.documentElement.outerHTML;
    visibleCopy(doc, (el) => doc.defaultView!.getComputedStyle(el));
    extract(doc, 100_000);
    expect(doc.documentElement.outerHTML).toBe(before);
  });

  it("still applies the attribute rules when styles are unknown", () => {
    const doc = page(`<p>shown</p><p hidden>attr-hidden</p><p aria-hidden="true">aria</p>`);
    const text = visibleCopy(doc, () => null).body.textContent ?? "";
    expect(text).toContain("shown");
    expect(text).not.toContain("attr-hidden");
    expect(text).not.toContain("aria");
  });
});
