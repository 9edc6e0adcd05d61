import { describe, expect, it } from "vitest";
import { hostOf, isBlocked, normaliseDomain, parseBlockList } from "../src/lib/blocklist";
import { MemoryKV, Store } from "../src/lib/store";

describe("block list", () => {
  it("normalises what users paste", () => {
    expect(normaliseDomain("https://Mail.Example.com/inbox?x=1")).toBe("mail.example.com");
    expect(normaliseDomain("*.example.com")).toBe("example.com");
    expect(normaliseDomain(".example.com.")).toBe("example.com");
    expect(normaliseDomain("example.com:8443")).toBe("example.com");
    expect(parseBlockList("a.com, b.com\n\n a.com  https://c.com/x")).toEqual(["a.com", "b.com", "c.com"]);
  });

  it("blocks an internationalized domain typed in Unicode (hosts are reported in ASCII)", () => {
    const list = parseBlockList("Bücher.de, faß.de");
    expect(list).toEqual(["xn--bcher-kva.de", "xn--fa-hia.de"]);
    expect(isBlocked("https://bücher.de/katalog", list)).toBe(true);
    expect(isBlocked("https://shop.xn--bcher-kva.de/", list)).toBe(true);
    expect(isBlocked("https://buecher.de/", list)).toBe(false);
  });

  it("blocks a domain and its subdomains, not look-alikes", () => {
    const list = ["example.com"];
    expect(isBlocked("https://example.com/", list)).toBe(true);
    expect(isBlocked("http://a.b.example.com:8080/x", list)).toBe(true);
    expect(isBlocked("https://EXAMPLE.COM./", list)).toBe(true);
    expect(isBlocked("https://badexample.com/", list)).toBe(false);
    expect(isBlocked("https://example.com.evil.net/", list)).toBe(false);
    expect(isBlocked("about:blank", list)).toBe(false);
    expect(hostOf("not a url")).toBe("");
  });

  it("applies a list an older version saved in Unicode", async () => {
    const store = new Store(new MemoryKV());
    await store.setConfig({ blockedDomains: ["bücher.de", "bank.example"] });
    const { blockedDomains } = await store.effective();
    expect(blockedDomains).toEqual(["xn--bcher-kva.de", "bank.example"]);
    expect(isBlocked("https://xn--bcher-kva.de/", blockedDomains)).toBe(true);
  });
});
