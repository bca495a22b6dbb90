import pg from 'pg';
import { pino } from 'pino';
import { GroupCommit } from '../lib/group-commit.js';
import { createQueueBackend } from '../lib/queue.js';

/**
 * The floor: a bare BullMQ worker that does, per job, only what any design keeping every node's
 * state in PostgreSQL must do — a conditional claim (`queued → running`, with its event) before
 * the work and a conditional result (`running → succeeded`, with its output and event) after it,
 * each group-committed exactly as the engine's (lib/group-commit.ts, one batch in flight). No
 * run row, no DAG, no successors, no expressions: whatever Conveyor costs above this is its own;
 * what this costs below raw BullMQ is the price of the contract. Started by bench/run.ts, whose
 * `floor()` creates the two tables and the queued rows.
 */
const log = pino({ level: 'warn' });
const queues = createQueueBackend(
  { REDIS_URL: process.env.REDIS_URL || undefined, DATABASE_URL: process.env.DATABASE_URL!, QUEUE_PREFIX: process.env.QUEUE_PREFIX ?? 'bench' },
  log,
);
// The engine's worker pool size (DATABASE_POOL_SIZE's default for a worker).
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });

/** One statement for a batch of ids: the conditional update and its events; which ids it moved. */
function transition(name: string, from: string, to: string, set: string, event: string) {
  return async (ids: number[]): Promise<boolean[]> => {
    const { rows } = await pool.query<{ id: string }>({
      name,
      text: `with moved as (
               update floor_nodes set status = '${to}', ${set}
                where id = any($1::bigint[]) and status = '${from}' returning id, attempts
             ), event as (
               insert into floor_events (node_id, type, attempt) select id, '${event}', attempts from moved order by id
             )
             select id from moved`,
      values: [ids],
    });
    const moved = new Set(rows.map((r) => Number(r.id)));
    return ids.map((id) => moved.has(id));
  };
}

const claimSql = transition('floor-claim', 'queued', 'running', 'attempts = attempts + 1, started_at = now()', 'node.started');
const resultSql = transition('floor-result', 'running', 'succeeded', `output = 'null'::jsonb, finished_at = now()`, 'node.succeeded');
const claims = new GroupCommit<number, boolean>(claimSql, async (id) => (await claimSql([id]))[0]!, { maxInFlight: 1 });
const results = new GroupCommit<number, boolean>(resultSql, async (id) => (await resultSql([id]))[0]!, { maxInFlight: 1 });

const worker = queues.worker(
  'floor',
  async (job) => {
    const id = job.data.id as number;
    if (!(await claims.submit(id))) return null;
    await results.submit(id);
    return null;
  },
  { concurrency: Number(process.env.WORKER_CONCURRENCY ?? 10) },
);
await worker.waitUntilReady();
console.log(JSON.stringify({ msg: 'floor worker ready' }));
const stop = async () => {
  await worker.close();
  await queues.close();
  await pool.end();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
