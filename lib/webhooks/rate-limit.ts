import ipaddr from 'ipaddr.js';
import type { Database } from '../../db/database.js';
import { hitRateWindow, pruneRateWindows } from '../../db/rate-windows.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * Webhook limits, in fixed one-minute windows counted in Postgres so that every web process (on
 * either queue backend) shares one count. Past a limit: 429 with `Retry-After` until the window
 * resets. Two budgets, so that nobody can spend the real sender's:
 * - a path's deliveries (`checkWebhookRate`): only requests that passed authentication count;
 * - failed signatures per path and client address (`failedSignatureLimiter`).
 */
export async function checkWebhookRate(db: Database, path: string, perMinute: number): Promise<void> {
  const { count, resetSeconds } = await hitRateWindow(db, 'webhookPath', path);
  if (count > perMinute) {
    throw new AppError(429, 'rate_limited', `This webhook accepts ${perMinute} requests a minute; retry in ${resetSeconds} s.`, undefined, {
      'Retry-After': String(resetSeconds),
    });
  }
}

const tooManyFailures = (perMinute: number, retryAfter: number) =>
  new AppError(
    429,
    'rate_limited',
    `More than ${perMinute} requests a minute from your address had a missing or wrong X-Signature; check the secret, and retry in ${retryAfter} s.`,
    undefined,
    { 'Retry-After': String(retryAfter) },
  );

/**
 * Counts a failed signature against `(path, client)` and answers the 429 to send instead of a
 * 401 once that budget is spent. Call it only after the signature was checked and found wrong:
 * a valid signature must never meet this limit, or a flood of bad ones from the same address
 * (every caller behind a proxy has its address) would lock the real sender out again. So it
 * saves no HMAC (cheap at ≤ MAX_RUN_INPUT_BYTES); what it saves is writes: once an address is
 * past its budget, this process answers it from memory until the window ends.
 */
export function failedSignatureLimiter(db: Database, perMinute: number) {
  /** `path client` → when its window ends (ms), for addresses past their budget. */
  const blockedUntil = new Map<string, number>();
  let nextPrune = 0;

  return async function recordFailure(path: string, client: string, log: Logger): Promise<AppError | undefined> {
    const now = Date.now();
    const key = `${path} ${client}`;
    const until = blockedUntil.get(key) ?? 0;
    if (until > now) return tooManyFailures(perMinute, Math.ceil((until - now) / 1000));
    if (now >= nextPrune) {
      // Callers choose how many addresses appear: forget ended windows, here and in Postgres.
      nextPrune = now + 60_000;
      for (const [k, end] of blockedUntil) if (end <= now) blockedUntil.delete(k);
      await pruneRateWindows(db, 'webhookFailure');
    }
    const { count, resetSeconds } = await hitRateWindow(db, 'webhookFailure', [path, client]);
    if (count <= perMinute) return undefined;
    if (count === perMinute + 1) log.warn({ path, client, perMinute }, 'webhook signature failures past WEBHOOK_FAILED_ATTEMPTS_PER_MINUTE: answering this address 429 until the minute ends');
    blockedUntil.set(key, now + resetSeconds * 1000);
    return tooManyFailures(perMinute, resetSeconds);
  };
}

/**
 * The key a client's failures are counted under: its address, with an IPv4-mapped IPv6 address
 * as IPv4 and any other IPv6 address as its /64 (one host usually holds the whole /64, so single
 * addresses would cost it nothing to rotate). 'unknown' without an address.
 */
export function clientKey(address: string | undefined): string {
  const bare = address?.split('%')[0];
  if (!bare || !ipaddr.isValid(bare)) return bare ? bare.slice(0, 64) : 'unknown';
  const ip = ipaddr.process(bare); // an IPv4-mapped IPv6 address becomes its IPv4 address
  if (ip.kind() === 'ipv4') return ip.toString();
  const prefix = (ip as ipaddr.IPv6).parts.slice(0, 4).map((g) => g.toString(16));
  return `${prefix.join(':')}::/64`;
}
