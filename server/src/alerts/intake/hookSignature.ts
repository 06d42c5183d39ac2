// Sentry signs each webhook with HMAC-SHA256 of the body as sent, keyed by
// the integration's client secret (a service hook's own secret for service
// hooks), hex-encoded. The check is on the raw bytes (a parsed and
// re-serialized body need not match them) and in constant time.
import { createHmac, timingSafeEqual } from 'node:crypto';

export function signBody(secret: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export function signatureMatches(secret: string, body: Buffer, presented: string | undefined): boolean {
  if (!presented || !/^[0-9a-f]{64}$/i.test(presented.trim())) return false;
  const expected = Buffer.from(signBody(secret, body), 'hex');
  return timingSafeEqual(expected, Buffer.from(presented.trim(), 'hex'));
}

/** Compares two secrets in constant time whatever their lengths (a GlitchTip URL token). */
export function secretMatches(expected: string, presented: string): boolean {
  const a = createHmac('sha256', 'astraforge-token-compare').update(expected).digest();
  const b = createHmac('sha256', 'astraforge-token-compare').update(presented).digest();
  return timingSafeEqual(a, b);
}

/**
 * Why a delivery's timestamp (Unix seconds) is unacceptable, or undefined.
 * Old ones are replays; ones far ahead would stay "fresh" for long.
 */
export function staleTimestampProblem(header: string | undefined, nowMs: number, maxAgeSeconds: number): string | undefined {
  if (!header) return 'the timestamp header is missing';
  const seconds = Number(header.trim());
  if (!Number.isFinite(seconds) || !/^\d+(\.\d+)?$/.test(header.trim())) return 'the timestamp is not a number of seconds';
  const age = nowMs / 1000 - seconds;
  if (age > maxAgeSeconds) return `the delivery is ${Math.round(age)} s old (the limit is ${maxAgeSeconds} s)`;
  if (age < -maxAgeSeconds) return `the delivery is dated ${Math.round(-age)} s in the future`;
  return undefined;
}
