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
    expect(problems('*/30 * * * * *', 'UTC', 30_000)).toEqual([]);
    expect(problems('*/10 * * * * *', 'UTC', 30_000)[0]?.message).toMatch(/every 10 s.*at least 30 s/);
    expect(problems('* * * * *', 'UTC', 60_000)).toEqual([]);
    expect(problems('* * * * *', 'UTC', 61_000)[0]?.message).toMatch(/every 60 s.*at least 61 s/);
  });

  // The shortest gap as validateCron reports it when nothing is allowed.
  const shortest = (cron: string, tz = 'UTC') => {
    const message = validateCron(cron, tz, Number.MAX_SAFE_INTEGER, now)[0]?.message ?? '';
    return Number(/fires every (\d+) s/.exec(message)?.[1]);
  };
  const gaps = (times: Date[]) => times.slice(1).map((t, i) => (t.getTime() - times[i]!.getTime()) / 1000);

  it('finds a short gap however many compliant fires come before it', () => {
    // On the 1st and on Mondays, at 00:00:00, 00:00:59, …, 23:59:59: the first 111 fires from
    // `now` are at least 59 s apart, then Monday 31 August runs into Tuesday 1 September.
    const cron = '0,59 0,59 0,23 1 * 1';
    expect(Math.min(...gaps(nextFireTimes(cron, 'UTC', now, 101)))).toBe(59);
    expect(gaps(nextFireTimes(cron, 'UTC', new Date('2026-08-31T23:59:58Z'), 2))).toEqual([1]);
    expect(problems(cron, 'UTC', 30_000)[0]?.message).toMatch(/every 1 s.*at least 30 s/);
    expect(problems('0,59 0,59 0,23 1,15 * *', 'UTC', 30_000)).toEqual([]); // never on consecutive days
  });

  it.each([
    ['59 23 * * *', 1],
    ['0 0 * * 1,3,5', 2], // Monday, Wednesday, Friday
    ['0 9 * * THU', 7],
    ['0 0 1,L * *', 1], // the last of a month, then the 1st
    ['0 0 13 * 5', 1], // the 13th or a Friday (either, when both are given): Friday the 12th, Saturday the 13th
    ['0 0 * * 1#1', 28], // first Monday: 1 February to 1 March of a common year
    ['0 0 * * 5L', 28], // last Friday
    ['0 0 1 1 *', 365],
    ['0 0 29 2 *', 4 * 365 + 1],
  ])('counts the days between firing dates of %j (%i)', (cron, days) => {
    expect(shortest(cron)).toBe(days * 86_400);
  });

  describe('across clock changes', () => {
    it('spring forward: 01:59:59 and 03:00:00 are a second apart in Europe/Berlin', () => {
      const cron = '0,59 0,59 1,3 * * *';
      expect(problems(cron, 'UTC', 30_000)).toEqual([]); // 59 s on an ordinary day
      expect(gaps(nextFireTimes(cron, 'Europe/Berlin', new Date('2027-03-28T00:59:58Z'), 2))).toEqual([1]);
      expect(problems(cron, 'Europe/Berlin', 30_000)[0]?.message).toMatch(/every 1 s.*at least 30 s/);
    });

    it('spring forward: a daily schedule fires 23 hours apart across the short night', () => {
      expect(gaps(nextFireTimes('30 1 * * *', 'America/New_York', new Date('2027-03-12T12:00:00Z'), 3))).toEqual([86_400, 82_800]);
      expect(shortest('30 1 * * *', 'America/New_York')).toBe(82_800);
      expect(shortest('30 2 * * *', 'Europe/Berlin')).toBe(82_800); // 02:30 does not exist that night: 03:30
      expect(shortest('30 1 * * *', 'UTC')).toBe(86_400);
    });

    it('fall back: BullMQ fires a repeated hour once, unless every hour is listed (then an hour apart)', () => {
      // Firing both 02:59:59 and the second 02:00:00 would be a second apart: BullMQ does not.
      const times = nextFireTimes('0,59 0,59 2 * * *', 'Europe/Berlin', new Date('2026-10-24T23:59:59Z'), 5);
      expect(times.map((d) => local(d, 'Europe/Berlin'))).toEqual(['2026-10-25 02:00:00', '2026-10-25 02:00:59', '2026-10-25 02:59:00', '2026-10-25 02:59:59', '2026-10-26 02:00:00']);
      expect(shortest('0,59 0,59 2 * * *', 'Europe/Berlin')).toBe(59);
      expect(shortest('0 * * * *', 'Europe/Berlin')).toBe(3600);
    });

    it('fall back by two hours (Antarctica/Troll): a daily fire repeats two hours later', () => {
      expect(gaps(nextFireTimes('20 3 2 * * *', 'Antarctica/Troll', new Date('2026-10-23T12:00:00Z'), 3))).toEqual([86_400, 7200]);
      expect(shortest('20 3 2 * * *', 'Antarctica/Troll')).toBe(7200);
    });

    it('matches what BullMQ fires around both changes of the year', () => {
      for (const tz of ['Europe/Berlin', 'America/New_York']) {
        const changes = tz === 'Europe/Berlin' ? ['2026-10-25T01:00:00Z', '2027-03-28T01:00:00Z'] : ['2026-11-01T06:00:00Z', '2027-03-14T07:00:00Z'];
        for (const cron of ['0 0,45 1,2,3 * * *', '15 0,59 0,1,4,23 * * *', '30 */2 * * *', '0,30 0 2 * * *']) {
          const ordinary = Math.min(...gaps(nextFireTimes(cron, 'UTC', new Date('2026-06-10T00:00:00Z'), 60)));
          const aroundChanges = changes.map((at) => Math.min(...gaps(nextFireTimes(cron, tz, new Date(Date.parse(at) - 86_400_000), 40))));
          expect(shortest(cron, tz), `${cron} in ${tz}`).toBe(Math.min(ordinary, ...aroundChanges));
        }
      }
    });

    it('refuses fires near a clock change that is not on a whole hour, where BullMQ can loop', () => {
      // Chatham turns 03:45 back to 02:45: BullMQ's next fire after 02:50 is 02:00, the one before it.
      expect(nextFireTimes('0 0,50 * * * *', 'Pacific/Chatham', new Date('2027-04-03T12:30:00Z'), 3)).toHaveLength(1);
      expect(problems('0 0,50 * * * *', 'Pacific/Chatham')[0]?.message).toMatch(/clock change in Pacific\/Chatham that is not on a whole hour/);
      expect(problems('30 * * * *', 'Australia/Lord_Howe')[0]?.message).toMatch(/clock change/);
      expect(problems('0 0,50 9 * * *', 'Pacific/Chatham')).toEqual([]);
    });

    it('stays cheap for the densest expressions', () => {
      expect(problems('* * * * * *', 'Europe/Berlin', 1000)).toEqual([]);
      expect(problems('*/2 * * * * *', 'America/New_York', 2000)).toEqual([]);
    });
  });

  it('refuses H, which BullMQ draws anew before every fire', () => {
    expect(problems('H * * * * *')[0]?.message).toMatch(/uses H/);
    expect(problems('0 H(0-5) * * *')[0]?.message).toMatch(/uses H/);
    expect(problems('0 9 * * THU')).toEqual([]);
  });
});
