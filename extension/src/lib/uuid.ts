/**
 * UUIDv7 ids (RFC 9562) for events and batches: time-ordered, so the gateway's
 * indexes stay append-friendly, and random enough to never collide.
 */

/** Source of random bytes; injected so tests can be deterministic. */
export type RandomFill = (bytes: Uint8Array<ArrayBuffer>) => Uint8Array<ArrayBuffer>;

const defaultFill: RandomFill = (bytes) => crypto.getRandomValues(bytes);

/**
 * Make a lower-case UUIDv7 string.
 *
 * @param nowMs - Unix time in milliseconds (the first 48 bits).
 * @param fill - random source for the remaining 74 bits.
 */
export function uuidv7(nowMs: number, fill: RandomFill = defaultFill): string {
  const bytes = fill(new Uint8Array(16));
  let ms = Math.max(0, Math.floor(nowMs));
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x70;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
