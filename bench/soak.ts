import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { scratchDataParent, startEmbeddedPostgres, type EmbeddedPostgres } from '../scripts/embedded-postgres.js';
import { freePort } from '../scripts/free-port.js';
import { ENTRIES, startProcess, type AppProcess } from '../test/process.js';
import { round } from './stats.js';
import { dropScratchQueues } from './scratch-queues.js';

/**
 * `npm run bench -- --soak 10m`: web, workers and the scheduler under a steady flow of runs for
 * that long, sampled every BENCH_SOAK_SAMPLE (30s): each process's RSS, the PostgreSQL
 * connections to the soak's database (pg_stat_activity), Redis' used_memory (INFO memory; the
 * whole server's, so other users of a shared Redis show up too) and the run backlog. A table on
 * stdout, a CSV in bench/results/, and a PNG plot beside it when Chromium is at hand.
 *
 * Env: BENCH_SOAK_RATE (runs/s, 20), BENCH_SOAK_SAMPLE (30s), BENCH_WORKERS (2),
 * BENCH_CONCURRENCY (50), BENCH_BACKENDS (its first entry; redis when one answers, else
 * postgres), DATABASE_URL / REDIS_URL as for the benchmark, BENCH_SOAK_OUT (CSV path).
 */
export interface SoakSample {
  elapsedS: number;
  webRssMb: number;
  workerRssMb: number[];
  schedulerRssMb: number;
  pgConnections: number;
  redisUsedMb: number | null;
  runsCreated: number;
  runsFinished: number;
  backlog: number;
  postErrors: number;
}

/** "10m", "90s", "1h", "1m30s" → ms. */
export function parseDuration(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(h|m|s|ms)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new Error(`not a duration: "${text}" (e.g. 10m, 90s, 1h)`);
  const unit = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
  return parts.reduce((ms, p) => ms + Number(p[1]) * unit[p[2] as keyof typeof unit], 0);
}

/** The soak's workflow: a fan-out with an expression per branch, the shape most runs have. */
const WORKFLOW = {
  name: 'soak',
  nodes: [
    { id: 'start', type: 'transform', params: { value: { n: '{{ input.n }}' } } },
    ...[0, 1, 2].map((i) => ({ id: `b${i}`, type: 'transform', params: { value: `{{ nodes.start.output.n + ${i} }}` } })),
    { id: 'join', type: 'noop', params: {} },
  ],
  edges: [0, 1, 2].flatMap((i) => [{ from: 'start', to: `b${i}` }, { from: `b${i}`, to: 'join' }]),
};

async function rssMb(p: AppProcess): Promise<number> {
  const status = await readFile(`/proc/${p.child.pid}/status`, 'utf8').catch(() => '');
  return round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

async function procfileFlags(kind: string): Promise<Record<string, string>> {
  const procfile = await readFile('Procfile', 'utf8');
  const flags = new RegExp(`^${kind}:\\s*exec node ((?:--\\S+\\s+)*)dist/`, 'm').exec(procfile)?.[1]?.trim();
  return flags ? { NODE_OPTIONS: flags } : {};
}

export function soakTable(samples: readonly SoakSample[]): string {
  const header = ['t (s)', 'web RSS MB', 'worker RSS MB', 'scheduler RSS MB', 'PG conns', 'Redis used MB', 'runs created', 'finished', 'backlog', 'POST errors'];
  const rows = samples.map((s) => [s.elapsedS, s.webRssMb, s.workerRssMb.join(' / '), s.schedulerRssMb, s.pgConnections, s.redisUsedMb ?? '-', s.runsCreated, s.runsFinished, s.backlog, s.postErrors].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padStart(widths[i]!)).join('  ')).join('\n');
}

export function soakCsv(samples: readonly SoakSample[]): string {
  const workers = Math.max(0, ...samples.map((s) => s.workerRssMb.length));
  const header = ['elapsed_s', 'web_rss_mb', ...Array.from({ length: workers }, (_, i) => `worker${i + 1}_rss_mb`), 'scheduler_rss_mb', 'pg_connections', 'redis_used_mb', 'runs_created', 'runs_finished', 'backlog', 'post_errors'];
  const rows = samples.map((s) => [s.elapsedS, s.webRssMb, ...s.workerRssMb, s.schedulerRssMb, s.pgConnections, s.redisUsedMb ?? '', s.runsCreated, s.runsFinished, s.backlog, s.postErrors].join(','));
  return `${[header.join(','), ...rows].join('\n')}\n`;
}

export async function soak(durationText: string, opts: { built: boolean }): Promise<void> {
  const durationMs = parseDuration(durationText);
  const rate = Number(process.env.BENCH_SOAK_RATE ?? 20);
  const sampleMs = parseDuration(process.env.BENCH_SOAK_SAMPLE ?? '30s');
  const workerCount = Number(process.env.BENCH_WORKERS ?? 2);
  const app = opts.built
    ? { web: 'dist/apps/api/main.js', worker: 'dist/apps/worker/main.js', scheduler: 'dist/apps/scheduler/main.js', migrate: 'dist/scripts/migrate.js' }
    : ENTRIES;

  // A server to create a scratch database on: DATABASE_URL's, or an embedded one.
  let embedded: EmbeddedPostgres | undefined;
  let scratch: string | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    scratch = await scratchDataParent('conveyor-soak-');
    embedded = await startEmbeddedPostgres({ dataDir: path.join(scratch, 'pg'), port: await freePort() });
    serverUrl = embedded.url;
  }
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const redisUp = await redis.connect().then(() => true, () => false);
  const backend = (process.env.BENCH_BACKENDS?.split(',')[0]?.trim() as 'redis' | 'postgres' | undefined) ?? (redisUp ? 'redis' : 'postgres');
  if (backend === 'redis' && !redisUp) throw new Error(`no Redis answers at ${redisUrl}`);

  const dbName = `conveyor_soak_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(serverUrl);
  dbUrl.pathname = `/${dbName}`;
  const env: Record<string, string> = {
    DATABASE_URL: dbUrl.toString(),
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    BOOTSTRAP_API_KEY: `cvy_soak_${randomBytes(16).toString('hex')}`,
    QUEUE_PREFIX: `soak${randomBytes(3).toString('hex')}`,
    // info, as in production: the per-node log line is part of what runs.
    LOG_LEVEL: 'info',
    WORKER_CONCURRENCY: process.env.BENCH_CONCURRENCY ?? '50',
    ...(backend === 'redis' ? { REDIS_URL: redisUrl } : {}),
  };
  const processes: AppProcess[] = [];
  const samples: SoakSample[] = [];
  try {
    const migrate = startProcess(app.migrate, env);
    if ((await migrate.exited).code !== 0) throw new Error(`migrate failed:\n${migrate.lines.join('\n')}`);
    const port = await freePort();
    const web = startProcess(app.web, { ...env, PORT: String(port), ...(opts.built ? await procfileFlags('web') : {}) });
    const workerFlags = opts.built ? await procfileFlags('worker') : {};
    const workers = Array.from({ length: workerCount }, () => startProcess(app.worker, { ...env, ...workerFlags }));
    const scheduler = startProcess(app.scheduler, env);
    processes.push(web, ...workers, scheduler);
    await web.waitFor(/web listening/, 30_000);
    await Promise.all(workers.map((w) => w.waitFor(/worker consuming/, 30_000)));
    await scheduler.waitFor(/scheduler started/, 30_000);

    const base = `http://127.0.0.1:${port}`;
    const headers = { authorization: `Bearer ${env.BOOTSTRAP_API_KEY}`, 'content-type': 'application/json' };
    const created = await fetch(`${base}/v1/workflows`, { method: 'POST', headers, body: JSON.stringify(WORKFLOW) });
    if (created.status !== 201) throw new Error(`create workflow: ${created.status} ${await created.text()}`);

    const db = new pg.Client({ connectionString: env.DATABASE_URL });
    await db.connect();
    let runsCreated = 0;
    let postErrors = 0;
    const started = Date.now();
    const sample = async (): Promise<SoakSample> => {
      const conns = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [dbName]);
      const runs = await db.query<{ finished: number; open: number }>(
        `SELECT count(*) FILTER (WHERE status IN ('succeeded','failed','cancelled'))::int AS finished,
                count(*) FILTER (WHERE status IN ('queued','running'))::int AS open FROM runs`,
      );
      const info = redisUp ? await redis.info('memory') : '';
      const used = /used_memory:(\d+)/.exec(info)?.[1];
      return {
        elapsedS: Math.round((Date.now() - started) / 1000),
        webRssMb: await rssMb(web),
        workerRssMb: await Promise.all(workers.map(rssMb)),
        schedulerRssMb: await rssMb(scheduler),
        pgConnections: conns.rows[0]!.n,
        redisUsedMb: used === undefined ? null : round(Number(used) / 1024 / 1024),
        runsCreated,
        runsFinished: runs.rows[0]!.finished,
        backlog: runs.rows[0]!.open,
        postErrors,
      };
    };
    const record = async () => {
      const s = await sample();
      // The last paced sample and the closing one can fall in the same second: keep the later.
      if (samples.at(-1)?.elapsedS === s.elapsedS) samples.pop();
      samples.push(s);
      console.error(`[soak] ${JSON.stringify(s)}`);
    };

    console.error(`[soak] ${backend} backend, ${workerCount} workers, ${rate} runs/s for ${durationText}, sampled every ${sampleMs / 1000} s`);
    await record();
    let nextSample = started + sampleMs;
    const inFlight = new Set<Promise<void>>();
    // Paced by the clock, not by answers: a slow API shows as backlog, not as a lower rate.
    for (let i = 0; Date.now() - started < durationMs; i++) {
      const due = started + (i * 1000) / rate;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      const post = fetch(`${base}/v1/workflows/soak/runs`, { method: 'POST', headers, body: JSON.stringify({ input: { n: i } }) })
        .then(async (res) => {
          await res.arrayBuffer();
          if (res.status === 202) runsCreated++;
          else postErrors++;
        })
        .catch(() => void postErrors++)
        .finally(() => inFlight.delete(post));
      inFlight.add(post);
      if (Date.now() >= nextSample) {
        nextSample += sampleMs;
        await record();
      }
    }
    await Promise.all(inFlight);
    await record();
    await db.end();
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    redis.disconnect();
    await dropScratchQueues(env).catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await embedded?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }

  const out = process.env.BENCH_SOAK_OUT ?? `bench/results/soak-${backend}-${new Date().toISOString().replace(/[:.]/g, '-')}.csv`;
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, soakCsv(samples));
  console.log(soakTable(samples));
  const first = samples[1] ?? samples[0]!;
  const last = samples[samples.length - 1]!;
  const growth = (a: number, b: number) => `${a} → ${b} MB (${b - a >= 0 ? '+' : ''}${round(b - a)})`;
  console.log(`\nweb RSS ${growth(first.webRssMb, last.webRssMb)}; worker RSS ${first.workerRssMb.map((w, i) => growth(w, last.workerRssMb[i]!)).join(', ')}; PG connections ${first.pgConnections} → ${last.pgConnections}`);
  console.log(`CSV written to ${out}`);
  const png = await plotSoak(samples, out.replace(/\.csv$/, '.png')).catch((err: Error) => `not drawn (${err.message})`);
  console.log(png.endsWith('.png') ? `plot written to ${png}` : `plot ${png}`);
}

/** An SVG line chart of the samples, rendered to PNG by headless Chromium (playwright-core) when present. */
async function plotSoak(samples: readonly SoakSample[], file: string): Promise<string> {
  const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  const { existsSync } = await import('node:fs');
  if (!existsSync(chromium)) throw new Error(`no Chromium at ${chromium}; set CHROMIUM_PATH`);
  const series: { label: string; color: string; values: number[]; axis: 'mb' | 'count' }[] = [
    { label: 'web RSS MB', color: '#1f77b4', values: samples.map((s) => s.webRssMb), axis: 'mb' },
    ...samples[0]!.workerRssMb.map((_, i) => ({ label: `worker ${i + 1} RSS MB`, color: ['#d62728', '#ff7f0e', '#8c564b', '#e377c2'][i % 4]!, values: samples.map((s) => s.workerRssMb[i]!), axis: 'mb' as const })),
    { label: 'scheduler RSS MB', color: '#7f7f7f', values: samples.map((s) => s.schedulerRssMb), axis: 'mb' },
    ...(samples.some((s) => s.redisUsedMb !== null) ? [{ label: 'Redis used MB', color: '#2ca02c', values: samples.map((s) => s.redisUsedMb ?? 0), axis: 'mb' as const }] : []),
    { label: 'PG connections', color: '#9467bd', values: samples.map((s) => s.pgConnections), axis: 'count' },
  ];
  const W = 900, H = 420, L = 60, R = 60, T = 30, B = 50;
  const xs = samples.map((s) => s.elapsedS);
  const xMax = Math.max(1, ...xs);
  const top = (axis: 'mb' | 'count') => Math.max(1, ...series.filter((s) => s.axis === axis).flatMap((s) => s.values)) * 1.1;
  const x = (v: number) => L + (v / xMax) * (W - L - R);
  const y = (v: number, axis: 'mb' | 'count') => H - B - (v / top(axis)) * (H - T - B);
  const lines = series.map((s) => `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.values.map((v, i) => `${x(xs[i]!)},${y(v, s.axis)}`).join(' ')}"/>`);
  const legend = series.map((s, i) => `<text x="${L + (i % 3) * 260}" y="${H - B + 36 + Math.floor(i / 3) * 16}" font-size="12" fill="${s.color}">${s.label}</text>`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H + 40}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${L}" y="18" font-size="13">Soak: RSS and Redis memory in MB (left axis), PostgreSQL connections (right axis)</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/><line x1="${W - R}" y1="${T}" x2="${W - R}" y2="${H - B}" stroke="#333"/>
<text x="${L - 8}" y="${T + 4}" font-size="11" text-anchor="end">${round(top('mb'))}</text><text x="${L - 8}" y="${H - B}" font-size="11" text-anchor="end">0 MB</text>
<text x="${W - R + 8}" y="${T + 4}" font-size="11">${round(top('count'))}</text><text x="${W - R + 8}" y="${H - B}" font-size="11">0 conns</text>
<text x="${L}" y="${H - B + 18}" font-size="11">0 s</text><text x="${W - R}" y="${H - B + 18}" font-size="11" text-anchor="end">${xMax} s</text>
${lines.join('\n')}
${legend.join('\n')}
</svg>`;
  const { chromium: browserType } = await import('playwright-core');
  const browser = await browserType.launch({ executablePath: chromium, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: W, height: H + 40 } });
    await page.setContent(`<body style="margin:0">${svg}</body>`);
    await page.screenshot({ path: file });
  } finally {
    await browser.close();
  }
  return file;
}
