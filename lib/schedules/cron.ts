import { getNextMillis } from 'bullmq';
import { CronExpressionParser, type CronFieldCollection } from 'cron-parser';
import type { ErrorDetail } from '../errors.js';

/**
 * Cron expressions as schedules use them: 5 fields, or 6 with seconds first, in an IANA time
 * zone. Next fire times come from BullMQ's own `getNextMillis` (its cron-parser, its options),
 * so what the API shows is what the job scheduler fires.
 */
export const FIRE_TIMES_SHOWN = 5;
const HOUR = 3600;
const DAY = 86_400;
/** 28 Gregorian years: weekdays and leap years repeat with this period (2100 brings no new month shape). */
const CALENDAR_CYCLE_DAYS = 10_227;
/** How far ahead the time zone's clock changes are looked up (both of a year's, with margin). */
const TRANSITION_SCAN_DAYS = 2 * 366;

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
  const atoms = cron.trim().split(/\s+/);
  if (atoms.length !== 5 && atoms.length !== 6) {
    return [{ pointer: '/cron', message: `has ${atoms.length} field(s): use 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)` }];
  }
  const zone = canonicalTimeZone(timezone);
  if (!zone) return [{ pointer: '/timezone', message: `"${timezone.slice(0, 64)}" is not an IANA time zone (e.g. "UTC", "Europe/Berlin")` }];
  let fields: CronFieldCollection;
  try {
    fields = CronExpressionParser.parse(cron, { tz: zone, currentDate: now }).fields;
  } catch (err) {
    const reason = (err as Error).message;
    if (/explicit day of month/i.test(reason)) return [{ pointer: '/cron', message: `never fires: no month in it has that day (${reason})` }];
    return [{ pointer: '/cron', message: `is not a valid cron expression: ${reason}` }];
  }
  // BullMQ parses the pattern afresh for every fire without a hash seed, so each H is redrawn each time.
  if (atoms.some((atom, i) => /H/.test(i >= atoms.length - 2 ? atom.replace(/[a-z]{3}/gi, '') : atom))) {
    return [{ pointer: '/cron', message: 'uses H (a hashed value), which BullMQ redraws before every fire, so fires can come any time apart: write the values out' }];
  }
  const days = firingDaySpacing(fields);
  if (days === undefined || nextFireTimes(cron, zone, now, 1).length === 0) return [{ pointer: '/cron', message: 'never fires: no date matches every field' }];
  const shortest = shortestGap(fields, days, zone, now);
  if (shortest === 0) {
    return [{ pointer: '/cron', message: `fires within an hour of a clock change in ${zone} that is not on a whole hour, where BullMQ's cron parser can fire in a loop: choose other hours or another time zone` }];
  }
  if (shortest * 1000 < minIntervalMs) {
    return [{ pointer: '/cron', message: `fires every ${shortest} s at its most frequent; this workspace allows at least ${minIntervalMs / 1000} s between fires` }];
  }
  return [];
}

/**
 * The fewest days between two consecutive firing dates, from cron-parser's own day rule (day of
 * month OR day of week when both are restricted, L, #) over one whole calendar cycle, wrapping
 * around; undefined when no date ever matches.
 */
function firingDaySpacing({ month, dayOfMonth, dayOfWeek }: CronFieldCollection): number | undefined {
  const anyDom = dayOfMonth.isWildcard;
  const anyDow = dayOfWeek.isWildcard;
  const nth = dayOfWeek.nthDay;
  const lastDow = (dow: number) => dayOfWeek.hasLastChar && dayOfWeek.values.some((v) => parseInt(String(v).charAt(0), 10) % 7 === dow);
  let first: number | undefined, previous: number | undefined;
  let spacing = Infinity;
  let dow = 1; // 2001-01-01, the cycle's first day, is a Monday
  for (let day = 0, year = 2001, m = 1, d = 1; day < CALENDAR_CYCLE_DAYS; day++) {
    const monthDays = m === 2 ? (year % 4 === 0 ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31;
    const domHit = (dayOfMonth.values as (number | string)[]).includes(d) || (dayOfMonth.hasLastChar && d === monthDays);
    const dowHit = ((dayOfWeek.values as (number | string)[]).includes(dow) && (nth <= 0 || Math.ceil(d / 7) === nth)) || (d > monthDays - 7 && lastDow(dow));
    const fires = (month.values as number[]).includes(m) && (anyDom ? (anyDow ? domHit : dowHit) : anyDow ? domHit : domHit || dowHit);
    if (fires) {
      if (previous !== undefined) spacing = Math.min(spacing, day - previous);
      first ??= day;
      previous = day;
    }
    dow = (dow + 1) % 7;
    if (++d > monthDays) [d, m] = [1, m + 1];
    if (m > 12) [m, year] = [1, year + 1];
  }
  if (first === undefined || previous === undefined) return undefined;
  return Math.min(spacing, first + CALENDAR_CYCLE_DAYS - previous);
}

/**
 * The shortest time, in seconds, between two consecutive fires, computed from the fields rather
 * than sampled. A firing day's fires are hours × (minute, second) offsets, so on an ordinary day
 * the gaps are the offsets' own gaps, the gaps between consecutive hours (first offset of the
 * later hour minus last of the earlier) and the wrap from the last fire of a firing day to the
 * first of the next one, `days` later. A clock change can shorten one of these: see gapAcrossClockChange.
 */
function shortestGap(fields: CronFieldCollection, days: number, zone: string, now: Date): number {
  const hours = fields.hour.values as number[];
  const offsets: number[] = [];
  for (const m of fields.minute.values as number[]) for (const s of fields.second.values as number[]) offsets.push(m * 60 + s);
  const first = offsets[0]!;
  const last = offsets[offsets.length - 1]!;
  let shortest = (days * 24 + hours[0]! - hours[hours.length - 1]!) * HOUR + first - last;
  for (let i = 1; i < offsets.length; i++) shortest = Math.min(shortest, offsets[i]! - offsets[i - 1]!);
  for (let i = 1; i < hours.length; i++) shortest = Math.min(shortest, (hours[i]! - hours[i - 1]!) * HOUR + first - last);
  if (shortest <= 1) return shortest; // fires are whole seconds: nothing is closer
  for (const change of clockChanges(zone, now)) shortest = Math.min(shortest, gapAcrossClockChange(hours, offsets, days, change));
  return shortest;
}

/** A change of the zone's UTC offset: the wall-clock second of day it happens at, and by how much the clock moves. */
interface ClockChange {
  at: number;
  shift: number;
}

/** The distinct clock changes of the zone in the next two years (its DST rules, as Intl knows them). */
function clockChanges(zone: string, from: Date): ClockChange[] {
  const format = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
  const offset = (second: number) => {
    const name = format.formatToParts(second * 1000).find((p) => p.type === 'timeZoneName')?.value ?? '';
    const [, sign, h, m, s] = /([+-])(\d\d):(\d\d)(?::(\d\d))?/.exec(name) ?? [];
    return sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(h) * HOUR + Number(m) * 60 + Number(s ?? 0));
  };
  const changes = new Map<string, ClockChange>();
  let before = Math.floor(from.getTime() / 1000);
  let was = offset(before);
  for (let day = 1; day <= TRANSITION_SCAN_DAYS; day++) {
    let after = before + DAY;
    const is = offset(after);
    if (is === was) {
      before = after;
      continue;
    }
    for (let lo = before; after - lo > 1; ) {
      const mid = Math.floor((lo + after) / 2);
      if (offset(mid) === was) lo = mid;
      else after = mid;
    }
    const change = { at: (((after + was) % DAY) + DAY) % DAY, shift: is - was };
    changes.set(`${change.at}/${change.shift}`, change);
    [before, was] = [after, is];
  }
  return [...changes.values()];
}

/**
 * The shortest gap around one clock change, assuming (never too leniently) that the day it falls on
 * fires and so do the days `days` before and after: 0 when it cannot be bounded. Times are
 * wall-clock seconds from that day's midnight, mapped to real seconds with the offset before the
 * change. A forward change (shift > 0) removes the wall times [at, at + shift): a fire due then runs
 * in the hour the clock lands in, so that hour fires as if listed, and a gap spanning the change is
 * `shift` shorter. A backward change repeats [at + shift, at): cron-parser fires a repeated hour
 * once, except when every hour is listed or the clock goes back more than an hour, where it fires
 * both (cron.test.ts pins this against BullMQ). Around changes not on a whole hour (Lord Howe's
 * 30 minutes, Chatham's 02:45) it can step backwards and fire in a loop: nothing may fire near them.
 * Only the hours near the change need every fire; farther ones add their first and last, the rest
 * being ordinary-day gaps.
 */
function gapAcrossClockChange(hours: number[], offsets: number[], days: number, { at, shift }: ClockChange): number {
  const wholeHours = at % HOUR === 0 && shift % HOUR === 0;
  const resume = shift === -HOUR && hours.length !== 24 ? at : at + shift;
  const near = [Math.floor(Math.min(at, at + shift) / HOUR) - 1, Math.floor(Math.max(at, at + shift) / HOUR) + 1] as const;
  const ends = [offsets[0]!, offsets[offsets.length - 1]!];
  let shortest = Infinity;
  for (let day = Math.floor(near[0] / 24); day <= Math.floor(near[1] / 24); day++) {
    const firing = new Set<number>();
    for (const d of [day - days, day, day + days]) for (const h of hours) firing.add(d * 24 + h);
    if (shift > 0) {
      let skippedFires = false;
      for (let h = Math.floor(at / HOUR); h * HOUR < at + shift; h++) skippedFires ||= firing.has(h);
      for (let h = Math.floor((at + shift) / HOUR); skippedFires && h * HOUR < at + shift + HOUR; h++) firing.add(h);
    }
    const times: number[] = [];
    for (const h of firing) {
      const isNear = h >= near[0] && h <= near[1];
      if (isNear && !wholeHours) return 0;
      for (const offset of isNear ? offsets : ends) {
        const wall = h * HOUR + offset;
        if (wall < at) times.push(wall);
        if (wall >= resume) times.push(wall - shift);
      }
    }
    times.sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++) if (times[i]! > times[i - 1]!) shortest = Math.min(shortest, times[i]! - times[i - 1]!);
  }
  return shortest;
}
