import { getNextMillis } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { nextFireTimes, previousFireTime, validateCron } from './cron.js';

const local = (d: Date, tz: string) => d.toLocaleString('sv-SE', { timeZone: tz });
const utc = (dates: Date[]) => dates.map((d) => d.toISOString());

describe('next fire times', () => {
  it('are the times BullMQ computes, one after another, from a fixed start', () => {
    const from = new Date('2026-06-10T10:00:00.500Z');
    const times = nextFireTimes('*/15 * * * * *', 'UTC', from);
    expect(utc(times)).toEqual(['2026-06-10T10:00:15.000Z', '2026-06-10T10:00:30.000Z', '2026-06-10T10:00:45.000Z', '2026-06-10T10:01:00.000Z', '2026-06-10T10:01:15.000Z']);
    // The job scheduler's own next job after each of them is the next in our list.
    for (let i = 1; i < times.length; i++) expect(getNextMillis(times[i - 1]!.getTime(), { pattern: '*/15 * * * * *', tz: 'UTC' })).toBe(times[i]!.getTime());
  });

  it('follow the local clock of the time zone', () => {
    const times = nextFireTimes('0 9 * * MON-FRI', 'America/New_York', new Date('2026-06-12T12:00:00Z'), 3);
    // 12:00Z is 08:00 on a Friday in New York; the weekend is skipped.
    expect(times.map((d) => local(d, 'America/New_York'))).toEqual(['2026-06-12 09:00:00', '2026-06-15 09:00:00', '2026-06-16 09:00:00']);
    expect(utc(times)[0]).toBe('2026-06-12T13:00:00.000Z'); // EDT, UTC-4
  });

  describe('across DST in Europe/Berlin', () => {
    it('spring forward: a daily 02:30 (a time that does not exist that night) fires once, an hour later', () => {
      const times = nextFireTimes('30 2 * * *', 'Europe/Berlin', new Date('2026-03-27T12:00:00Z'), 4);
      expect(times.map((d) => local(d, 'Europe/Berlin'))).toEqual(['2026-03-28 02:30:00', '2026-03-29 03:30:00', '2026-03-30 02:30:00', '2026-03-31 02:30:00']);
      expect(utc(times)).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:30:00.000Z', '2026-03-30T00:30:00.000Z', '2026-03-31T00:30:00.000Z']);
    });

    it('spring forward: an hourly schedule has no 02:00 that night and never fires twice', () => {
      const times = nextFireTimes('0 * * * *', 'Europe/Berlin', new Date('2026-03-28T23:30:00Z'), 4);
      expect(times.map((d) => local(d, 'Europe/Berlin'))).toEqual(['2026-03-29 01:00:00', '2026-03-29 03:00:00', '2026-03-29 04:00:00', '2026-03-29 05:00:00']);
      expect(new Set(utc(times)).size).toBe(4);
    });

    it('fall back: a daily 02:30 (a time that happens twice) fires once', () => {
      const times = nextFireTimes('30 2 * * *', 'Europe/Berlin', new Date('2026-10-23T12:00:00Z'), 4);
      expect(times.map((d) => local(d, 'Europe/Berlin'))).toEqual(['2026-10-24 02:30:00', '2026-10-25 02:30:00', '2026-10-26 02:30:00', '2026-10-27 02:30:00']);
      expect(utc(times)[1]).toBe('2026-10-25T00:30:00.000Z'); // the first 02:30, still CEST
    });

    it('fall back: an hourly schedule fires at both 02:00s: every real hour, one hour apart', () => {
      const times = nextFireTimes('0 * * * *', 'Europe/Berlin', new Date('2026-10-24T23:30:00Z'), 5);
      expect(utc(times)).toEqual(['2026-10-25T00:00:00.000Z', '2026-10-25T01:00:00.000Z', '2026-10-25T02:00:00.000Z', '2026-10-25T03:00:00.000Z', '2026-10-25T04:00:00.000Z']);
      expect(times.map((d) => local(d, 'Europe/Berlin'))).toEqual(['2026-10-25 02:00:00', '2026-10-25 02:00:00', '2026-10-25 03:00:00', '2026-10-25 04:00:00', '2026-10-25 05:00:00']);
    });
  });

  it('previousFireTime finds the latest tick at or before a moment', () => {
    expect(previousFireTime('0 * * * *', 'UTC', new Date('2026-06-10T10:59:59Z'))?.toISOString()).toBe('2026-06-10T10:00:00.000Z');
    expect(previousFireTime('0 * * * *', 'UTC', new Date('2026-06-10T10:00:00Z'))?.toISOString()).toBe('2026-06-10T10:00:00.000Z');
  });
});

describe('validateCron', () => {
  const now = new Date('2026-06-10T10:00:00Z');
  const problems = (cron: string, tz = 'UTC', minMs = 1000) => validateCron(cron, tz, minMs, now);

  it('accepts 5 fields and 6 (seconds first)', () => {
    expect(problems('0 9 * * MON-FRI')).toEqual([]);
    expect(problems('*/1 * * * * *')).toEqual([]);
    expect(problems('0 0 29 2 *')).toEqual([]); // leap days: fires, if rarely
  });

  it.each([
    ['* * *', /3 field/],
    ['* * * * * * *', /7 field/],
    ['@daily', /1 field/],
    ['61 * * * *', /not a valid cron expression.*61/],
    ['x y z a b', /not a valid cron expression/],
    ['*/0 * * * *', /not a valid cron expression/],
    ['0 0 30 2 *', /never fires/],
    ['0 0 31 4,6 *', /never fires/],
  ])('names what is wrong with %j', (cron, message) => {
    const found = problems(cron);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ pointer: '/cron', message: expect.stringMatching(message) });
  });

  it('refuses unknown time zones', () => {
    for (const tz of ['Mars/Olympus', '+01:00', 'Europe/Nowhere']) {
      expect(problems('0 9 * * *', tz)).toEqual([{ pointer: '/timezone', message: expect.stringContaining('IANA') }]);
    }
  });

  it('enforces the minimum interval at the closest pair of fires', () => {
    expect(problems('*/10 * * * * *', 'UTC', 60_000)[0]?.message).toMatch(/every 10 s.*at least 60 s/);
    expect(problems('0,30 * * * * *', 'UTC', 60_000)[0]?.message).toMatch(/every 30 s/);
    expect(problems('0 * * * * *', 'UTC', 60_000)).toEqual([]);
    expect(problems('* * * * * *', 'UTC', 1000)).toEqual([]);
  });
});
