import { describe, expect, it } from 'vitest';
import { parseDuration, soakCsv, soakTable, type SoakSample } from './soak.js';

describe('soak benchmark helpers', () => {
  it('reads durations as `--soak` takes them, and refuses anything else', () => {
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    for (const bad of ['', '10', 'ten minutes', '10m!', '-1m']) expect(() => parseDuration(bad)).toThrow(/not a duration/);
  });

  it('writes one CSV row per sample with a column per worker, and a table', () => {
    const sample = (elapsedS: number): SoakSample => ({ elapsedS, webRssMb: 100, workerRssMb: [90, 91.5], schedulerRssMb: 80, pgConnections: 27, redisUsedMb: null, runsCreated: elapsedS * 20, runsFinished: elapsedS * 20, backlog: 0, postErrors: 0 });
    const csv = soakCsv([sample(0), sample(30)]).trim().split('\n');
    expect(csv[0]).toBe('elapsed_s,web_rss_mb,worker1_rss_mb,worker2_rss_mb,scheduler_rss_mb,pg_connections,redis_used_mb,runs_created,runs_finished,backlog,post_errors');
    expect(csv[2]).toBe('30,100,90,91.5,80,27,,600,600,0,0');
    expect(soakTable([sample(30)])).toMatch(/90 \/ 91\.5/);
  });
});
