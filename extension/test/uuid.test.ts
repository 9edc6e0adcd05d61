import { describe, expect, it } from "vitest";
import { uuidv7 } from "../src/lib/uuid";

describe("uuidv7", () => {
  it("encodes the time first, with version 7 and the RFC variant", () => {
    const id = uuidv7(0x0190a8b45c3d);
    expect(id).toMatch(/^0190a8b4-5c3d-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("sorts by time and does not collide", () => {
    const ids = Array.from({ length: 2000 }, (_, i) => uuidv7(1_700_000_000_000 + i));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(Array.from({ length: 2000 }, () => uuidv7(5))).size).toBe(2000);
  });
});
