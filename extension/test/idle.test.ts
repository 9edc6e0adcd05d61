import Ajv2020 from "ajv/dist/2020";
import { describe, expect, it } from "vitest";
import schema from "../src/generated/contract.schema.json";
import { draft } from "../src/lib/events";
import { DETECTION_INTERVAL_S, detectionIntervalS, idlePayload } from "../src/lib/idle";

const ajv = new Ajv2020({ strict: false, allErrors: true });
const validateIdle = ajv.compile({ $ref: "#/$defs/IdleState", $defs: schema.$defs });
const env = { clientId: "client-1", sessionId: "0190a8b4-5c3d-7e8f-9a0b-1c2d3e4f5a6b", ts: 1_700_000_000_000 };

describe("idle reports", () => {
  it("an idle report carries the detection interval chrome.idle inferred it from", () => {
    expect(idlePayload("idle", 90)).toEqual({ type: "idle.state", state: "idle", idle_for_s: 90 });
  });

  it("locked and active are not inferred from inactivity: 0", () => {
    expect(idlePayload("locked", 90)).toMatchObject({ idle_for_s: 0 });
    expect(idlePayload("active", 90)).toMatchObject({ idle_for_s: 0 });
    expect(idlePayload("idle", 0)).toMatchObject({ idle_for_s: 0 }); // interval not known yet
  });

  it("the interval given to chrome.idle is the threshold within what chrome accepts", () => {
    expect(detectionIntervalS(60)).toBe(60);
    expect(detectionIntervalS(89.6)).toBe(90);
    expect(detectionIntervalS(5)).toBe(DETECTION_INTERVAL_S.min);
    expect(detectionIntervalS(1_000_000)).toBe(DETECTION_INTERVAL_S.max);
  });

  it("every idle report is an event the gateway accepts", () => {
    for (const state of ["idle", "locked", "active"] as const) {
      for (const threshold of [0, 15, 60, 3600, 1_000_000]) {
        const event = { ...draft(idlePayload(state, detectionIntervalS(threshold)), env), seq: 1 };
        expect(validateIdle(event), ajv.errorsText(validateIdle.errors)).toBe(true);
      }
    }
    expect(validateIdle({ ...draft(idlePayload("idle", 60), env), seq: 1, idle_for_s: 86_401 })).toBe(false);
  });
});
