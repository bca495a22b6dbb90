import { z } from '@hono/zod-openapi';
import type { Database } from '../../db/database.js';
import { findWorkflow } from '../../db/workflows.js';
import { badRequest } from '../../lib/errors.js';

/** Opaque keyset cursors: base64url of "<createdAt ISO>|<id>" of the last item of a page. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ description: 'page size, 1..200' }),
  cursor: z.string().max(200).optional().openapi({ description: 'nextCursor of the previous page' }),
};

export function decodeCursor(cursor: string | undefined): { createdAt: Date; id: string } | undefined {
  if (!cursor) return undefined;
  const [iso, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(iso ?? '');
  if (!id || !/^[0-9a-f-]{36}$/.test(id) || Number.isNaN(createdAt.getTime())) {
    throw badRequest('cursor is not one this API issued: pass nextCursor from the previous page', [{ pointer: '/cursor', message: 'invalid cursor' }]);
  }
  return { createdAt, id };
}

/** Rows fetched with limit + 1: the extra row only says whether another page exists. */
export function page<T extends { created_at: Date; id: string }, U>(rows: T[], limit: number, present: (row: T) => U) {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const nextCursor = rows.length > limit && last ? Buffer.from(`${last.created_at.toISOString()}|${last.id}`).toString('base64url') : null;
  return { items: items.map(present), nextCursor };
}

export const emptyPage = { items: [], nextCursor: null };

/** A list's `?workflow=` filter as an id; null when the workspace has no such workflow (an empty page, not a 404). */
export async function workflowFilter(db: Database, workspaceId: string, idOrName: string | undefined): Promise<string | undefined | null> {
  if (!idOrName) return undefined;
  const wf = await findWorkflow(db, workspaceId, idOrName);
  return wf ? wf.id : null;
}
