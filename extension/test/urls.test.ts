/** URL privacy: the shared cases (also run against schema/privacy.py) and the user's extra names. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isPageUrl, isSecretParam, isUrlTitle, parseSecretParams, scrubUrl, userSecrets } from "../src/lib/urls";

interface Case {
  url: string;
  extra?: string[];
  page: boolean;
  scrubbed: string;
}

const { cases } = JSON.parse(
  readFileSync(join(import.meta.dirname, "../../tests/fixtures/url_privacy_cases.json"), "utf8"),
) as { cases: Case[] };

describe("url privacy (shared with the gateway)", () => {
  it.each(cases)("$url", (c) => {
    expect(isPageUrl(c.url)).toBe(c.page);
    expect(scrubUrl(c.url, userSecrets(c.extra ?? []))).toBe(c.scrubbed);
  });

  it("is idempotent and never leaves a fragment", () => {
    for (const c of cases) {
      const once = scrubUrl(c.url);
      expect(scrubUrl(once)).toBe(once);
      expect(once.includes("#")).toBe(false);
    }
  });
});

describe("the user's extra secret names", () => {
  it("parses names and prefixes from the popup's text", () => {
    expect(parseSecretParams("Tracking, x-my-*\n ref  *  a*b")).toEqual(["tracking", "x-my-*", "ref"]);
  });

  it("adds to the documented list, never replaces it", () => {
    const extra = userSecrets(["tracking", "x-my-*"]);
    expect(isSecretParam("X-My-Anything", extra)).toBe(true);
    expect(isSecretParam("token", extra)).toBe(true);
    expect(isSecretParam("tracking2", extra)).toBe(false);
    expect(scrubUrl("https://a.example/?q=1&tracking=2&code=3", extra)).toBe("https://a.example/?q=1");
  });
});

describe("titles that are only the URL", () => {
  const { url_titles } = JSON.parse(
    readFileSync(join(import.meta.dirname, "../../tests/fixtures/url_privacy_cases.json"), "utf8"),
  ) as { url_titles: { url: string; title: string; is_url: boolean }[] };
  it.each(url_titles)("$title", (c) => {
    expect(isUrlTitle(c.title, c.url)).toBe(c.is_url);
  });
});
