import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * CPU time by process, read from /proc: the benchmark's workers (by pid) and the database
 * servers (every PostgreSQL and Redis process on the machine, so a shared server counts its other
 * users too — read the figures as shares of a load, on a quiet machine).
 */
export type CpuSample = Record<'workers' | 'postgres' | 'redis', number>;

/** Seconds of CPU (user + system) the process has used; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks
  } catch {
    return 0;
  }
}

const pids = (cmd: string) => execSync(cmd).toString().trim().split('\n').filter(Boolean).map(Number);
const sum = (list: number[]) => list.reduce((a, pid) => a + cpuSeconds(pid), 0);

export function sampleCpu(workerPids: readonly number[]): CpuSample {
  return {
    workers: sum([...workerPids]),
    postgres: sum(pids('pgrep -u postgres || true')),
    redis: sum(pids("pgrep -f 'redis-server' || true")),
  };
}

/** Milliseconds of CPU per item (job, node) of each process kind between two samples. */
export function cpuPerItem(before: CpuSample, after: CpuSample, items: number): CpuSample {
  const per = (k: keyof CpuSample) => Math.round(((after[k] - before[k]) * 1000 * 100) / items) / 100;
  return { workers: per('workers'), postgres: per('postgres'), redis: per('redis') };
}
