import { getNextMillis } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type { ErrorDetail } from '../errors.js';

/**
 * Cron expressions as schedules use them: 5 fields, or 6 with seconds first, in an IANA time
 * zone. Next fire times come from BullMQ's own `getNextMillis` (its cron-parser, its options),
 * so what the API shows is what the job scheduler fires.
 */
export const FIRE_TIMES_SHOWN = 5;
/** Fire times sampled to find an expression's shortest gap (the minimum-interval check). */
const INTERVAL_SAMPLE = 100;

export function canonicalTimeZone(tz: string): string | undefined {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** The next `count` fire times after `from`, each computed as BullMQ computes a scheduler's next job. */
export function nextFireTimes(cron: string, timezone: string, from: Date, count = FIRE_TIMES_SHOWN): Date[] {
  const times: Date[] = [];
  let millis = from.getTime();
  for (let i = 0; i < count; i++) {
    const next = getNextMillis(millis, { pattern: cron, tz: timezone });
    if (next === undefined || next <= millis) break;
    times.push(new Date(next));
    millis = next;
  }
  return times;
}

/** The latest fire time at or before `at`, if the expression ever fired before it. */
export function previousFireTime(cron: string, timezone: string, at: Date): Date | undefined {
  try {
    // prev() is strictly before currentDate: start one millisecond later to include `at` itself.
    return CronExpressionParser.parse(cron, { tz: timezone, currentDate: new Date(at.getTime() + 1) }).prev().toDate();
  } catch {
    return undefined;
  }
}

/** Every problem with (cron, timezone) as 400 details; empty when it is a valid, firing, not-too-frequent schedule. */
export function validateCron(cron: string, timezone: string, minIntervalMs: number, now = new Date()): ErrorDetail[] {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    return [{ pointer: '/cron', message: `has ${fields.length} field(s): use 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)` }];
  }
  const zone = canonicalTimeZone(timezone);
  if (!zone) return [{ pointer: '/timezone', message: `"${timezone.slice(0, 64)}" is not an IANA time zone (e.g. "UTC", "Europe/Berlin")` }];
  try {
    CronExpressionParser.parse(cron, { tz: zone, currentDate: now });
  } catch (err) {
    const reason = (err as Error).message;
    if (/explicit day of month/i.test(reason)) return [{ pointer: '/cron', message: `never fires: no month in it has that day (${reason})` }];
    return [{ pointer: '/cron', message: `is not a valid cron expression: ${reason}` }];
  }
  const times = nextFireTimes(cron, zone, now, INTERVAL_SAMPLE + 1);
  if (times.length === 0) return [{ pointer: '/cron', message: 'never fires: no date matches every field' }];
  let shortest = Infinity;
  for (let i = 1; i < times.length; i++) shortest = Math.min(shortest, times[i]!.getTime() - times[i - 1]!.getTime());
  if (shortest < minIntervalMs) {
    return [{ pointer: '/cron', message: `fires every ${shortest / 1000} s at its most frequent; this workspace allows at least ${minIntervalMs / 1000} s between fires` }];
  }
  return [];
}
