import { pendingMigrations } from '../db/migrate.js';
import type { Database } from '../db/database.js';
import type { Logger } from './logger.js';
import type { QueueBackend } from './queue.js';

/**
 * Before a worker or scheduler consumes anything: the schema must be migrated (ours, and the
 * queue's on the PostgreSQL backend). Missing migrations are an operator's error to fix, so the
 * process exits naming them, rather than consuming against tables that are not there (a BullMQ
 * PostgreSQL worker on an unmigrated schema spins and never yields). Unreachable services are
 * waited for: they come back, and the queue connections retry by themselves.
 */
export async function assertMigrated(db: Database, queues: QueueBackend, log: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const problems: string[] = [];
    let unreachable: string | undefined;
    try {
      const pending = await pendingMigrations(db);
      if (pending.length) problems.push(`pending migrations: ${pending.join(', ')}`);
    } catch (err) {
      unreachable = `database: ${(err as Error).message}`;
    }
    try {
      await queues.ping(5_000);
    } catch (err) {
      const message = (err as Error).message;
      if (/not migrated/.test(message)) problems.push(message);
      else unreachable ??= `queue backend: ${message}`;
    }
    if (problems.length) {
      log.fatal({ problems }, 'the schema is not migrated: run `npm run migrate` (the Procfile release phase) first');
      process.exit(1);
    }
    if (!unreachable) return;
    log.warn({ attempt, problem: unreachable }, 'waiting for dependencies before consuming');
    await new Promise((r) => setTimeout(r, Math.min(5_000, 500 * attempt)));
  }
}
