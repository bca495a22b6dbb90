import type pg from 'pg';

/**
 * Named prepared statements for the pool's queries, so PostgreSQL parses and plans each of our
 * statements once per connection instead of on every call: node-postgres sends an unnamed
 * statement otherwise, and on the hot path (a node's claim, its result, a run's insert) that
 * parse-and-plan was a third of the server's CPU. Measured with `npm run bench:cpu` (10-node
 * chains, pairs of runs A/B): PostgreSQL CPU per node 1.7 → 1.2 ms, node rate +25%.
 *
 * Only statements with parameters are named (a parameterless one may be a multi-statement
 * script, which the extended protocol refuses), at most `maxNames` distinct texts per process so
 * a stream of generated SQL cannot grow the server's memory. Kysely calls `client.query(text,
 * values)`; that is the one form rewritten.
 *
 * A schema change under a running process (a migration of a rolling deploy) makes PostgreSQL
 * refuse a prepared `select *` whose columns changed, and a pooler that resets sessions forgets
 * the statements: the query that meets either fails once, its text gets a fresh name, and the
 * next call prepares it again. Behind a transaction-mode pooler that cannot carry prepared
 * statements at all, turn them off (DATABASE_PREPARED_STATEMENTS=false).
 */
export function usePreparedStatements(pool: pg.Pool, maxNames = 256): void {
  const names = new Map<string, string>();
  let counter = 0;
  const nameFor = (text: string): string | undefined => {
    let name = names.get(text);
    if (!name && names.size < maxNames) names.set(text, (name = `conveyor_${++counter}`));
    return name;
  };
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (text: unknown, values?: unknown, callback?: unknown) => {
      if (typeof text !== 'string' || !Array.isArray(values) || values.length === 0 || callback !== undefined) return query(text, values, callback);
      const name = nameFor(text);
      if (!name) return query(text, values);
      return (query({ name, text, values }) as Promise<unknown>).catch((err: unknown) => {
        if (isStalePreparedStatement(err) && names.get(text) === name) names.delete(text);
        throw err;
      });
    };
  });
}

function isStalePreparedStatement(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: string; message?: string };
  // 0A000 "cached plan must not change result type"; 26000 "prepared statement ... does not exist".
  return (code === '0A000' && /cached plan/.test(message ?? '')) || code === '26000';
}
