/** Popup field handling: a refresh never overwrites what the user is typing. */
import { JSDOM } from "jsdom";
import { describe, expect, it } from "vitest";
import { FieldGuard } from "../src/lib/fields";

describe("FieldGuard", () => {
  it("keeps a half-typed gateway URL through any number of refreshes, then follows the store", () => {
    const guard = new FieldGuard();
    const field = { value: "" };
    expect(guard.render("gateway", field, "http://127.0.0.1:8000", false)).toBe(true);
    // The user selects the field and types; the popup refreshes every 2 s meanwhile.
    field.value = "https://mindhit.exam";
    guard.onInput("gateway");
    for (let i = 0; i < 5; i++) guard.render("gateway", field, "http://127.0.0.1:8000", i % 2 === 0);
    expect(field.value).toBe("https://mindhit.exam");
    // Focus moved away (to the token field) without submitting: still kept.
    guard.render("gateway", field, "http://127.0.0.1:8000", false);
    expect(field.value).toBe("https://mindhit.exam");
    expect(guard.isEdited("gateway")).toBe(true);
    // Submitted and stored: the field shows the stored (normalised) value again.
    guard.committed("gateway");
    guard.render("gateway", field, "https://mindhit.example", false);
    expect(field.value).toBe("https://mindhit.example");
  });

  it("never writes into a focused field, even one not edited yet", () => {
    const guard = new FieldGuard();
    const field = { value: "old" };
    expect(guard.render("idle", field, "90", true)).toBe(false);
    expect(field.value).toBe("old");
    expect(guard.render("idle", field, "90", false)).toBe(true);
  });

  it("works on real input elements driven by input events", () => {
    const { document, Event } = new JSDOM(`<input id=gw><input id=token>`).window;
    const gw = document.getElementById("gw") as HTMLInputElement;
    const guard = new FieldGuard();
    gw.addEventListener("input", () => guard.onInput("gw"));
    guard.render("gw", gw, "http://127.0.0.1:8000", document.activeElement === gw);
    gw.focus();
    gw.value = "https://typed.example";
    gw.dispatchEvent(new Event("input"));
    (document.getElementById("token") as HTMLInputElement).focus();
    guard.render("gw", gw, "http://127.0.0.1:8000", document.activeElement === gw);
    expect(gw.value).toBe("https://typed.example");
  });
});
