import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';

const run = promisify(execFile);

/**
 * Everything a database holds, as text. `pg_dump --data-only` when the installed pg_dump can
 * read this server (it refuses a newer major, e.g. the embedded PostgreSQL 18), plus, always,
 * every row of every table in every schema (bytea shows as hex) so the check never depends
 * on which binaries are installed.
 */
export async function dumpDatabase(url: string): Promise<{ text: string; pgDump: boolean }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const parts: string[] = [];
  try {
    const { rows: tables } = await client.query<{ schema: string; name: string }>(
      `select table_schema as schema, table_name as name from information_schema.tables
       where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`,
    );
    if (tables.length < 10) throw new Error(`expected our tables and BullMQ's, found ${tables.length}`);
    for (const t of tables) {
      const { rows } = await client.query<{ row: string }>(`select t::text as row from ${pg.escapeIdentifier(t.schema)}.${pg.escapeIdentifier(t.name)} t`);
      parts.push(`-- ${t.schema}.${t.name}`, ...rows.map((r) => r.row));
    }
  } finally {
    await client.end();
  }
  let pgDump = false;
  try {
    const { stdout } = await run('pg_dump', ['--data-only', '--no-owner', url], { maxBuffer: 256 * 1024 * 1024 });
    parts.push(stdout);
    pgDump = true;
  } catch (err) {
    if (!/version mismatch|ENOENT/.test(String((err as { stderr?: string }).stderr ?? err))) throw err;
  }
  return { text: parts.join('\n'), pgDump };
}

/** Every key under a BullMQ prefix with its value, whatever the key's type. */
export async function dumpRedis(url: string, prefix: string): Promise<string> {
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  const parts: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', '500');
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        const value =
          type === 'string' ? await redis.get(key)
          : type === 'hash' ? await redis.hgetall(key)
          : type === 'list' ? await redis.lrange(key, 0, -1)
          : type === 'set' ? await redis.smembers(key)
          : type === 'zset' ? await redis.zrange(key, '0', '-1')
          : type === 'stream' ? await redis.xrange(key, '-', '+')
          : `(${type})`;
        parts.push(`${key} ${JSON.stringify(value)}`);
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return parts.join('\n');
}
