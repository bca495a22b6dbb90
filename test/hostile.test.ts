import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '../lib/auth/webhook-signature.js';
import { allQueueNames } from '../lib/engine/queues.js';
import { snapshotTables } from './db-snapshot.js';
import { startStack, type TestStack } from './stack.js';

/**
 * A battery of hostile requests across every route: each must be answered 4xx in the JSON error
 * shape (never a 5xx, an HTML page or a stack) and leave the database and the queues as they were.
 */
interface Ctx {
  admin: string;
  editor: string;
  viewer: string;
  revoked: string;
  runId: string;
  credentialId: string;
  workflowId: string;
}

type Key = 'admin' | 'editor' | 'viewer' | 'revoked' | 'none';
interface Case {
  name: string;
  method: string;
  path: string | ((c: Ctx) => string);
  /** A string or bytes are sent as they are; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string> | ((c: Ctx) => Record<string, string>);
  key?: Key;
  status?: number;
}

const flow = (extra: Record<string, unknown> = {}) => ({ name: 'hostile-new', nodes: [{ id: 'a', type: 'noop' }], ...extra });
const json = { 'content-type': 'application/json' };
const b64 = (s: string) => Buffer.from(s).toString('base64');
const b64url = (s: string) => Buffer.from(s).toString('base64url');
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

const CASES: Case[] = [
  // Authentication
  { name: 'no key', method: 'GET', path: '/v1/workflows', key: 'none', status: 401 },
  { name: 'Bearer without a token', method: 'GET', path: '/v1/workflows', key: 'none', headers: { authorization: 'Bearer' }, status: 401 },
  { name: 'a 10k-character token', method: 'GET', path: '/v1/runs', key: 'none', headers: { authorization: `Bearer cvy_${'a'.repeat(10_000)}` }, status: 401 },
  { name: 'Basic auth on /v1', method: 'GET', path: '/v1/workflows', key: 'none', headers: (c) => ({ authorization: `Basic ${b64(`x:${c.admin}`)}` }), status: 401 },
  { name: 'two Bearer credentials in one header', method: 'GET', path: '/v1/workflows', key: 'none', headers: (c) => ({ authorization: `Bearer ${c.admin}, Bearer ${c.admin}` }), status: 401 },
  { name: 'an unknown scheme', method: 'GET', path: '/v1/workflows', key: 'none', headers: (c) => ({ authorization: `Token ${c.admin}` }), status: 401 },
  { name: 'a revoked key', method: 'GET', path: '/v1/workflows', key: 'revoked', status: 401 },
  { name: 'a SQL-looking token', method: 'GET', path: '/v1/workflows', key: 'none', headers: { authorization: "Bearer cvy_' or '1'='1" }, status: 401 },
  { name: 'a latin-1 token', method: 'GET', path: '/v1/workflows', key: 'none', headers: { authorization: 'Bearer cvy_\u00e9\u00e8' }, status: 401 },
  { name: 'Bull Board without a key', method: 'GET', path: '/admin/queues', key: 'none', status: 401 },
  { name: 'Bull Board with a viewer key', method: 'GET', path: '/admin/queues', key: 'viewer', status: 403 },
  { name: 'Bull Board API with an editor key as Basic password', method: 'GET', path: '/admin/queues/api/queues', key: 'none', headers: (c) => ({ authorization: `Basic ${b64(`ops:${c.editor}`)}` }), status: 403 },
  { name: 'Bull Board with a wrong Basic password', method: 'PUT', path: '/admin/queues/api/queues/nodes/obliterate', key: 'none', headers: { authorization: `Basic ${b64('ops:cvy_nope')}` }, status: 401 },

  // Bodies: syntax, encoding, media type, size
  { name: 'truncated JSON', method: 'POST', path: '/v1/workflows', body: '{"name": "x", "nodes": [', headers: json, status: 400 },
  { name: 'a required body missing', method: 'POST', path: '/v1/workflows', body: '', headers: json, status: 400 },
  { name: 'an array for an object', method: 'POST', path: '/v1/workflows', body: '[]', headers: json, status: 400 },
  { name: 'a string for an object', method: 'POST', path: '/v1/workflows', body: '"workflow"', headers: json, status: 400 },
  { name: 'null for an object', method: 'POST', path: '/v1/workflows', body: 'null', headers: json, status: 400 },
  { name: 'a number for an object', method: 'POST', path: '/v1/credentials', body: '123', headers: json, status: 400 },
  { name: 'a BOM and garbage', method: 'POST', path: '/v1/workflows', body: '\ufeff{x}', headers: json, status: 400 },
  { name: 'a raw NUL byte', method: 'POST', path: '/v1/workflows', body: bytes('{"name": "a', [0], '"}'), headers: json, status: 400 },
  { name: 'an escaped NUL in a value', method: 'POST', path: '/v1/workflows', body: '{"name": "a\\u0000", "nodes": [{"id": "a", "type": "noop"}]}', headers: json, status: 400 },
  { name: 'an escaped NUL in a key', method: 'POST', path: '/v1/workflows/hostile-target/runs', body: '{"input": {"k\\u0000": 1}}', headers: json, status: 400 },
  { name: 'a NUL in a credential secret', method: 'POST', path: '/v1/credentials', body: '{"name": "n", "type": "bearer", "data": {"token": "abcdefgh\\u0000"}}', headers: json, status: 400 },
  { name: 'invalid UTF-8', method: 'POST', path: '/v1/workflows', body: bytes('{"name": "', [0xff, 0xfe, 0xfd], '"}'), headers: json, status: 400 },
  { name: 'overlong UTF-8', method: 'POST', path: '/v1/credentials', body: bytes('{"name": "', [0xc0, 0xae], '"}'), headers: json, status: 400 },
  { name: 'a lone surrogate', method: 'POST', path: '/v1/workflows/hostile-target/runs', body: '{"input": "\\ud83d"}', headers: json, status: 400 },
  { name: 'nesting 100k deep', method: 'POST', path: '/v1/workflows/hostile-target/runs', body: `{"input": ${nested(100_000)}}`, headers: json, status: 400 },
  { name: 'nesting one past the limit', method: 'PUT', path: '/v1/workflows/hostile-target', body: `{"name": "hostile-target", "nodes": [{"id": "a", "type": "transform", "params": {"value": ${nested(64)}}}]}`, headers: json, status: 400 },
  { name: 'no Content-Type', method: 'POST', path: '/v1/workflows', body: JSON.stringify(flow()), status: 415 },
  { name: 'text/plain', method: 'POST', path: '/v1/workflows', body: JSON.stringify(flow()), headers: { 'content-type': 'text/plain' }, status: 415 },
  { name: 'a form', method: 'POST', path: '/v1/api-keys', body: 'name=x&role=admin', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415 },
  { name: 'multipart', method: 'POST', path: '/v1/credentials', body: '--b\r\n\r\nx\r\n--b--', headers: { 'content-type': 'multipart/form-data; boundary=b' }, status: 415 },
  { name: 'JSON declared UTF-16', method: 'PUT', path: '/v1/workflows/hostile-target', body: JSON.stringify(flow({ name: 'hostile-target' })), headers: { 'content-type': 'application/json; charset=utf-16' }, status: 415 },
  { name: 'a 3 MiB body', method: 'POST', path: '/v1/workflows', body: JSON.stringify(flow({ description: 'x'.repeat(3 * 1024 * 1024) })), headers: json, status: 413 },
  { name: 'a run input over MAX_RUN_INPUT_BYTES', method: 'POST', path: '/v1/workflows/hostile-target/runs', body: JSON.stringify({ input: 'x'.repeat(1_200_000) }), headers: json, status: 413 },
  { name: 'a 3 MiB webhook body', method: 'POST', path: '/hooks/anything', body: 'x'.repeat(3 * 1024 * 1024), headers: { 'content-type': 'text/plain' }, status: 413 },

  // Numbers beyond a double: JSON.parse makes them ±Infinity, which would be stored as null
  { name: 'a run input of 1e400', method: 'POST', path: '/v1/workflows/hostile-target/runs', body: '{"input": {"x": 1e400}}', headers: json, status: 400 },
  { name: 'a run input of -1e400 in an array', method: 'POST', path: '/v1/workflows/hostile-target/runs', body: '{"input": [1, -1e400]}', headers: json, status: 400 },
  { name: 'a node param of 1e400', method: 'POST', path: '/v1/workflows', body: '{"name": "hostile-num", "nodes": [{"id": "a", "type": "transform", "params": {"value": 1e400}}]}', headers: json, status: 400 },
  { name: 'a workflow update with 1E+309', method: 'PUT', path: '/v1/workflows/hostile-target', body: '{"name": "hostile-target", "nodes": [{"id": "a", "type": "transform", "params": {"value": {"n": 1E+309}}}]}', headers: json, status: 400 },
  { name: 'a signal payload of 1e400', method: 'POST', path: (c) => `/v1/runs/${c.runId}/nodes/a/signal`, body: '{"payload": {"n": 1e400}}', headers: json, status: 400 },
  { name: 'a schedule input of 1e400', method: 'POST', path: '/v1/schedules', body: '{"workflow": "hostile-target", "cron": "0 9 * * *", "input": {"n": 1e400}}', headers: json, status: 400 },
  { name: 'a webhook body of -1e400', method: 'POST', path: '/hooks/hostile-hook', key: 'none', body: '{"n": -1e400}', headers: json, status: 400 },

  // Workflows: types, strings, limits
  { name: 'a number for a name', method: 'POST', path: '/v1/workflows', body: { name: 123, nodes: [{ id: 'a', type: 'noop' }] }, headers: json, status: 400 },
  { name: 'an array for a name', method: 'POST', path: '/v1/workflows', body: flow({ name: ['a'] }), headers: json, status: 400 },
  { name: 'an object for nodes', method: 'POST', path: '/v1/workflows', body: flow({ nodes: { a: { type: 'noop' } } }), headers: json, status: 400 },
  { name: 'strings for nodes', method: 'POST', path: '/v1/workflows', body: flow({ nodes: ['noop'] }), headers: json, status: 400 },
  { name: 'a 100k-character name', method: 'POST', path: '/v1/workflows', body: flow({ name: 'a'.repeat(100_000) }), headers: json, status: 400 },
  { name: 'a description past 4096', method: 'POST', path: '/v1/workflows', body: flow({ description: 'd'.repeat(4097) }), headers: json, status: 400 },
  { name: 'a right-to-left override in a name', method: 'POST', path: '/v1/workflows', body: flow({ name: 'abc\u202etxt' }), headers: json, status: 400 },
  { name: 'a full-width name', method: 'POST', path: '/v1/workflows', body: flow({ name: '\uff41\uff44\uff4d\uff49\uff4e' }), headers: json, status: 400 },
  { name: 'a zero-width joiner in a name', method: 'POST', path: '/v1/workflows', body: flow({ name: 'ad\u200dmin' }), headers: json, status: 400 },
  { name: 'a SQL-looking name', method: 'POST', path: '/v1/workflows', body: flow({ name: "x'; drop table workflows; --" }), headers: json, status: 400 },
  { name: 'a path-traversal node id', method: 'POST', path: '/v1/workflows', body: flow({ nodes: [{ id: '../etc', type: 'noop' }] }), headers: json, status: 400 },
  { name: '501 nodes', method: 'POST', path: '/v1/workflows', body: flow({ nodes: Array.from({ length: 501 }, (_, i) => ({ id: `n${i}`, type: 'noop' })) }), headers: json, status: 400 },
  { name: 'a when guard past 4096 characters', method: 'POST', path: '/v1/workflows', body: flow({ nodes: [{ id: 'a', type: 'noop', when: `{{ ${'1 + '.repeat(1100)}1 }}` }] }), headers: json, status: 400 },
  { name: 'a cycle', method: 'POST', path: '/v1/workflows', body: flow({ nodes: [{ id: 'a', type: 'noop' }, { id: 'b', type: 'noop' }], edges: [{ from: 'a', to: 'b' }, { from: 'b', to: 'a' }] }), headers: json, status: 400 },
  { name: 'an unknown node type', method: 'POST', path: '/v1/workflows', body: flow({ nodes: [{ id: 'a', type: 'shell.exec' }] }), headers: json, status: 400 },
  { name: 'an expression reaching for globals', method: 'POST', path: '/v1/workflows', body: flow({ nodes: [{ id: 'a', type: 'transform', params: { value: '{{ $eval("process.exit()") ' } }] }), headers: json, status: 400 },
  { name: 'a webhook path with traversal', method: 'POST', path: '/v1/workflows', body: flow({ webhook: { path: '../../admin' } }), headers: json, status: 400 },
  { name: 'a credential name with a slash', method: 'POST', path: '/v1/workflows', body: flow({ nodes: [{ id: 'a', type: 'http.request', credential: 'a/../b', params: { url: 'https://x.example' } }] }), headers: json, status: 400 },
  { name: 'an unknown top-level field', method: 'PUT', path: '/v1/workflows/hostile-target', body: flow({ name: 'hostile-target', owner: 'root' }), headers: json, status: 400 },
  { name: 'PUT on a workflow that does not exist', method: 'PUT', path: '/v1/workflows/nope', body: flow({ name: 'nope' }), headers: json, status: 404 },
  { name: 'a 65-character workflow key', method: 'GET', path: `/v1/workflows/${'a'.repeat(65)}`, status: 400 },
  { name: 'an encoded traversal as a workflow', method: 'GET', path: '/v1/workflows/..%2f..%2fapi-keys', status: 404 },
  { name: 'an encoded traversal for versions', method: 'GET', path: '/v1/workflows/%2e%2e%2f%2e%2e/versions', status: 404 },
  { name: 'a NUL in a workflow key', method: 'DELETE', path: '/v1/workflows/a%00', status: 400 },
  { name: 'a viewer creating a workflow', method: 'POST', path: '/v1/workflows', body: flow(), headers: json, key: 'viewer', status: 403 },

  // Runs
  { name: 'priority 0', method: 'POST', path: '/v1/workflows/hostile-target/runs', body: { priority: 0 }, headers: json, status: 400 },
  { name: 'priority 11', method: 'POST', path: '/v1/workflows/hostile-target/runs', body: { priority: 11 }, headers: json, status: 400 },
  { name: 'priority as a string', method: 'POST', path: '/v1/workflows/hostile-target/runs', body: { priority: 'high' }, headers: json, status: 400 },
  { name: 'priority 1e400', method: 'POST', path: '/v1/workflows/hostile-target/runs', body: '{"priority": 1e400}', headers: json, status: 400 },
  { name: 'a negative version', method: 'POST', path: '/v1/workflows/hostile-target/runs', body: { version: -1 }, headers: json, status: 400 },
  { name: 'a version that does not exist', method: 'POST', path: '/v1/workflows/hostile-target/runs', body: { version: 999 }, headers: json, status: 400 },
  { name: 'a misspelt field', method: 'POST', path: '/v1/workflows/hostile-target/runs', body: { inputs: {} }, headers: json, status: 400 },
  { name: 'a 300-character Idempotency-Key', method: 'POST', path: '/v1/workflows/hostile-target/runs', headers: { 'idempotency-key': 'k'.repeat(300) }, status: 400 },
  { name: 'a run of a workflow that does not exist', method: 'POST', path: '/v1/workflows/nope/runs', status: 404 },
  { name: 'a run through an encoded traversal', method: 'POST', path: '/v1/workflows/%2e%2e%2fapi-keys/runs', status: 404 },
  { name: 'a run id that is not a uuid', method: 'GET', path: '/v1/runs/not-a-uuid', status: 400 },
  { name: 'a run id with traversal', method: 'GET', path: '/v1/runs/..%2f..%2fetc%2fpasswd', status: 400 },
  { name: 'a run id with SQL', method: 'GET', path: (c) => `/v1/runs/${c.runId}${encodeURIComponent("' or '1'='1")}`, status: 400 },
  { name: 'limit -1', method: 'GET', path: '/v1/runs?limit=-1', status: 400 },
  { name: 'limit 0', method: 'GET', path: '/v1/workflows?limit=0', status: 400 },
  { name: 'limit 1000000', method: 'GET', path: '/v1/runs?limit=1000000', status: 400 },
  { name: 'limit abc', method: 'GET', path: '/v1/runs?limit=abc', status: 400 },
  { name: 'limit 1e3', method: 'GET', path: '/v1/workflows?limit=1e3', status: 400 },
  { name: 'a garbage cursor', method: 'GET', path: '/v1/runs?cursor=garbage', status: 400 },
  { name: 'a forged cursor', method: 'GET', path: `/v1/runs?cursor=${b64url('yesterday|not-a-uuid')}`, status: 400 },
  { name: 'a SQL cursor', method: 'GET', path: `/v1/workflows?cursor=${encodeURIComponent("' OR 1=1 --")}`, status: 400 },
  { name: 'a cursor that is not UTF-8', method: 'GET', path: '/v1/runs?cursor=%ff%fe', status: 400 },
  { name: 'an unknown status', method: 'GET', path: '/v1/runs?status=exploded', status: 400 },
  { name: 'a 100-character workflow filter', method: 'GET', path: `/v1/runs?workflow=${'w'.repeat(100)}`, status: 400 },
  { name: 'a NUL in a filter', method: 'GET', path: '/v1/runs?workflow=a%00b', status: 400 },
  { name: 'cancel a run that does not exist', method: 'POST', path: () => `/v1/runs/${randomUUID()}/cancel`, status: 404 },
  { name: 'retry a queued run', method: 'POST', path: (c) => `/v1/runs/${c.runId}/retry`, status: 409 },
  { name: 'retry a run id that is not a uuid', method: 'POST', path: '/v1/runs/1%20OR%201=1/retry', status: 400 },
  { name: 'signal a node id with traversal', method: 'POST', path: (c) => `/v1/runs/${c.runId}/nodes/..%2f..%2f/signal`, status: 400 },
  { name: 'signal a node that is not waiting', method: 'POST', path: (c) => `/v1/runs/${c.runId}/nodes/a/signal`, body: { payload: 1 }, headers: json, status: 409 },
  { name: 'a viewer cancelling', method: 'POST', path: (c) => `/v1/runs/${c.runId}/cancel`, key: 'viewer', status: 403 },
  { name: 'events of a run id that is not a uuid', method: 'GET', path: '/v1/runs/..%2f/events', status: 400 },
  { name: 'events of a run that does not exist', method: 'GET', path: () => `/v1/runs/${randomUUID()}/events`, status: 404 },
  { name: 'a garbage Last-Event-ID', method: 'GET', path: (c) => `/v1/runs/${c.runId}/events`, headers: (c) => ({ authorization: `Bearer ${c.admin}`, 'last-event-id': "1' or '1'='1" }), status: 400 },
  { name: 'a negative lastEventId', method: 'GET', path: (c) => `/v1/runs/${c.runId}/events?lastEventId=-5`, status: 400 },
  { name: 'a 30-digit lastEventId', method: 'GET', path: (c) => `/v1/runs/${c.runId}/events?lastEventId=${'9'.repeat(30)}`, status: 400 },
  { name: 'the system view as an editor', method: 'GET', path: '/v1/system', key: 'editor', status: 403 },
  { name: 'POST on metrics', method: 'POST', path: '/metrics', key: 'none', body: '{}', headers: json, status: 404 },

  // Credentials
  { name: 'an unknown credential type', method: 'POST', path: '/v1/credentials', body: { name: 'c1', type: 'password', data: { token: 'abcdefgh' } }, headers: json, status: 400 },
  { name: 'bearer data without a token', method: 'POST', path: '/v1/credentials', body: { name: 'c1', type: 'bearer', data: { tok: 'abcdefgh' } }, headers: json, status: 400 },
  { name: 'an empty token', method: 'POST', path: '/v1/credentials', body: { name: 'c1', type: 'bearer', data: { token: '' } }, headers: json, status: 400 },
  { name: 'an array for a secret', method: 'POST', path: '/v1/credentials', body: { name: 'c1', type: 'bearer', data: { token: ['a'] } }, headers: json, status: 400 },
  { name: 'a string for data', method: 'POST', path: '/v1/credentials', body: { name: 'c1', type: 'bearer', data: 'abcdefgh' }, headers: json, status: 400 },
  { name: 'a traversal credential name', method: 'POST', path: '/v1/credentials', body: { name: '../../etc', type: 'bearer', data: { token: 'abcdefgh' } }, headers: json, status: 400 },
  { name: 'a header credential that is not a header name', method: 'POST', path: '/v1/credentials', body: { name: 'c1', type: 'header', data: { name: 'X Bad\r\nInjected', value: 'v' } }, headers: json, status: 400 },
  { name: 'an openai base URL that is not http', method: 'POST', path: '/v1/credentials', body: { name: 'c1', type: 'openai', data: { apiKey: 'sk-abcdefgh', baseUrl: 'file:///etc/passwd' } }, headers: json, status: 400 },
  { name: 'a 10k-character secret', method: 'POST', path: '/v1/credentials', body: { name: 'c1', type: 'hmac', data: { secret: 's'.repeat(10_000) } }, headers: json, status: 400 },
  { name: 'a credential name taken', method: 'POST', path: '/v1/credentials', body: { name: 'existing', type: 'bearer', data: { token: 'abcdefgh' } }, headers: json, status: 409 },
  { name: 'PUT on a credential that does not exist', method: 'PUT', path: () => `/v1/credentials/${randomUUID()}`, body: { data: { token: 'abcdefgh' } }, headers: json, status: 404 },
  { name: 'PUT changing the type', method: 'PUT', path: (c) => `/v1/credentials/${c.credentialId}`, body: { type: 'basic', data: { token: 'abcdefgh' } }, headers: json, status: 400 },
  { name: 'PUT with data of the wrong shape', method: 'PUT', path: (c) => `/v1/credentials/${c.credentialId}`, body: { data: { username: 'u', password: 'p' } }, headers: json, status: 400 },
  { name: 'DELETE a credential id that is not a uuid', method: 'DELETE', path: '/v1/credentials/existing', status: 400 },
  { name: 'GET a credential id with NUL', method: 'GET', path: '/v1/credentials/%00', status: 400 },
  { name: 'a viewer deleting a credential', method: 'DELETE', path: (c) => `/v1/credentials/${c.credentialId}`, key: 'viewer', status: 403 },

  // Keys and workspaces
  { name: 'role superadmin', method: 'POST', path: '/v1/api-keys', body: { name: 'k', role: 'superadmin' }, headers: json, status: 400 },
  { name: 'a negative rate limit', method: 'POST', path: '/v1/api-keys', body: { name: 'k', role: 'viewer', rateLimitPerMinute: -5 }, headers: json, status: 400 },
  { name: 'a huge rate limit', method: 'POST', path: '/v1/api-keys', body: { name: 'k', role: 'viewer', rateLimitPerMinute: 1e12 }, headers: json, status: 400 },
  { name: 'a rate limit as a string', method: 'POST', path: '/v1/api-keys', body: { name: 'k', role: 'viewer', rateLimitPerMinute: '10' }, headers: json, status: 400 },
  { name: 'an empty key name', method: 'POST', path: '/v1/api-keys', body: { name: '', role: 'viewer' }, headers: json, status: 400 },
  { name: 'prototype pollution', method: 'POST', path: '/v1/api-keys', body: '{"name": "k", "role": "viewer", "__proto__": {"role": "admin"}}', headers: json, status: 400 },
  { name: 'an editor creating a key', method: 'POST', path: '/v1/api-keys', body: { name: 'k', role: 'admin' }, headers: json, key: 'editor', status: 403 },
  { name: 'revoking a key that does not exist', method: 'DELETE', path: () => `/v1/api-keys/${randomUUID()}`, status: 404 },
  { name: 'revoking a key id that is not a uuid', method: 'DELETE', path: '/v1/api-keys/all', status: 400 },
  { name: 'the audit log as an editor', method: 'GET', path: '/v1/audit-log', key: 'editor', status: 403 },
  { name: 'a negative audit cursor', method: 'GET', path: '/v1/audit-log?cursor=-1', status: 400 },
  { name: 'a 20-digit audit cursor', method: 'GET', path: '/v1/audit-log?cursor=99999999999999999999', status: 400 },
  { name: 'a fractional audit cursor', method: 'GET', path: '/v1/audit-log?cursor=1.5', status: 400 },
  { name: 'a workspace named default', method: 'POST', path: '/v1/workspaces', body: { name: 'default' }, headers: json, status: 409 },
  { name: 'an upper-case workspace name', method: 'POST', path: '/v1/workspaces', body: { name: 'ACME' }, headers: json, status: 400 },
  { name: 'a 65-character workspace name', method: 'POST', path: '/v1/workspaces', body: { name: 'w'.repeat(65) }, headers: json, status: 400 },
  { name: 'a viewer creating a workspace', method: 'POST', path: '/v1/workspaces', body: { name: 'evil' }, headers: json, key: 'viewer', status: 403 },

  // Schedules
  { name: 'a three-field cron', method: 'POST', path: '/v1/schedules', body: { workflow: 'hostile-target', cron: '* * *' }, headers: json, status: 400 },
  { name: 'a cron with SQL', method: 'POST', path: '/v1/schedules', body: { workflow: 'hostile-target', cron: "0 0 * * *'; drop table schedules; --" }, headers: json, status: 400 },
  { name: 'an unknown time zone', method: 'POST', path: '/v1/schedules', body: { workflow: 'hostile-target', cron: '0 9 * * *', timezone: 'Mars/Olympus_Mons' }, headers: json, status: 400 },
  { name: 'a schedule id that is not a uuid', method: 'PATCH', path: '/v1/schedules/1', body: { enabled: false }, headers: json, status: 400 },

  // Wrong methods and unknown routes
  { name: 'PATCH on workflows', method: 'PATCH', path: '/v1/workflows', body: {}, headers: json, status: 404 },
  { name: 'DELETE on runs', method: 'DELETE', path: '/v1/runs', status: 404 },
  { name: 'PUT on a run', method: 'PUT', path: (c) => `/v1/runs/${c.runId}`, body: {}, headers: json, status: 404 },
  { name: 'POST on providers', method: 'POST', path: '/v1/providers', body: {}, headers: json, status: 404 },
  { name: 'a WebDAV method', method: 'PROPFIND', path: '/v1/workflows', status: 404 },
  { name: 'the bare /v1 without a key', method: 'GET', path: '/v1', key: 'none', status: 401 },
  { name: 'the bare /v1', method: 'GET', path: '/v1/', status: 404 },
  { name: 'an unknown route with traversal', method: 'GET', path: '/static/..%2f..%2fetc%2fpasswd', key: 'none', status: 404 },

  // Webhooks
  { name: 'a webhook path with traversal', method: 'POST', path: '/hooks/..%2f..%2fv1%2fapi-keys', key: 'none', body: '{}', headers: json, status: 404 },
  { name: 'a webhook path with NUL', method: 'POST', path: '/hooks/a%00b', key: 'none', body: '{}', headers: json, status: 400 },
  { name: 'a webhook path that does not exist', method: 'POST', path: '/hooks/nope', key: 'none', body: '{}', headers: json, status: 404 },
  { name: 'a 500-character webhook path', method: 'POST', path: `/hooks/${'p'.repeat(500)}`, key: 'none', body: '{}', headers: json },
  { name: 'a webhook body with NUL', method: 'POST', path: '/hooks/hostile-hook', key: 'none', body: '{"a": "\\u0000"}', headers: json, status: 400 },
  { name: 'a webhook body that is not UTF-8', method: 'POST', path: '/hooks/hostile-hook', key: 'none', body: bytes('{"a": "', [0xff], '"}'), headers: json, status: 400 },
  { name: 'a webhook body nested 100k deep', method: 'POST', path: '/hooks/hostile-hook', key: 'none', body: nested(100_000), headers: json, status: 400 },
  { name: 'a webhook body over MAX_RUN_INPUT_BYTES', method: 'POST', path: '/hooks/hostile-hook', key: 'none', body: 'x'.repeat(1_100_000), headers: { 'content-type': 'text/plain' }, status: 413 },
  { name: 'a signed webhook without a signature', method: 'POST', path: '/hooks/hostile-signed', key: 'none', body: '{"a": 1}', headers: json, status: 401 },
  { name: 'a signed webhook with a wrong signature', method: 'POST', path: '/hooks/hostile-signed', key: 'none', body: '{"a": 1}', headers: { ...json, 'x-signature': `sha256=${'0'.repeat(64)}` }, status: 401 },
  { name: 'a signed webhook with the signature of another body', method: 'POST', path: '/hooks/hostile-signed', key: 'none', body: '{"a": 2}', headers: { ...json, 'x-signature': signBody('hostile-hmac-secret', '{"a": 1}') }, status: 401 },
  { name: 'a signed webhook with two signatures', method: 'POST', path: '/hooks/hostile-signed', key: 'none', body: '{"a": 1}', headers: { ...json, 'x-signature': `${signBody('hostile-hmac-secret', '{"a": 1}')}, ${signBody('hostile-hmac-secret', '{"a": 1}')}` }, status: 401 },
  { name: 'a signed webhook with an API key instead', method: 'POST', path: '/hooks/hostile-signed', body: '{"a": 1}', headers: json, status: 401 },
];

describe('hostile input battery', () => {
  let stack: TestStack;
  let ctx: Ctx;
  const keyed = (c: Ctx, key: Key) => (key === 'none' ? undefined : c[key]);

  beforeAll(async () => {
    stack = await startStack({ workers: false });
    const mk = async (role: string) => (await stack.request('POST', '/v1/api-keys', { body: { name: role, role } })).body;
    const [editor, viewer, revoked] = [await mk('editor'), await mk('viewer'), await mk('viewer')];
    expect((await stack.request('DELETE', `/v1/api-keys/${revoked.id}`)).status).toBe(204);
    const wf = await stack.request('POST', '/v1/workflows', { body: { name: 'hostile-target', nodes: [{ id: 'a', type: 'noop' }] } });
    const run = await stack.request('POST', '/v1/workflows/hostile-target/runs', { body: { input: { n: 1 } } });
    const cred = await stack.request('POST', '/v1/credentials', { body: { name: 'existing', type: 'bearer', data: { token: 'existing-token-123' } } });
    const hmac = await stack.request('POST', '/v1/credentials', { body: { name: 'hostile-hmac', type: 'hmac', data: { secret: 'hostile-hmac-secret' } } });
    const hook = await stack.request('POST', '/v1/workflows', { body: { name: 'hostile-hook', nodes: [{ id: 'a', type: 'noop' }], webhook: { path: 'hostile-hook' } } });
    const signed = await stack.request('POST', '/v1/workflows', { body: { name: 'hostile-signed', nodes: [{ id: 'a', type: 'noop' }], webhook: { path: 'hostile-signed', secret: 'hostile-hmac' } } });
    expect([wf.status, run.status, cred.status, hmac.status, hook.status, signed.status]).toEqual([201, 202, 201, 201, 201, 201]);
    ctx = { admin: stack.adminKey, editor: editor.secret, viewer: viewer.secret, revoked: revoked.secret, runId: run.body.id, credentialId: cred.body.id, workflowId: wf.body.id };
  });
  afterAll(() => stack.close());

  const state = async () => ({
    tables: await snapshotTables(stack.db, { ignoreColumns: { api_keys: ['last_used_at'] }, ignoreTables: ['api_key_rate_windows', 'webhook_rate_windows', 'webhook_failure_windows'] }),
    queues: await Promise.all(allQueueNames(stack.engine.registry).map(async (q) => [q, await stack.queues.queue(q).getJobCounts()])),
  });

  it(`answers all ${CASES.length} with a 4xx JSON error and changes nothing`, async () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    const before = await state();
    const failures: string[] = [];
    for (const t of CASES) {
      const headers: Record<string, string> = typeof t.headers === 'function' ? t.headers(ctx) : { ...t.headers };
      const key = keyed(ctx, t.key ?? 'admin');
      if (key && !headers.authorization) headers.authorization = `Bearer ${key}`;
      const body = t.body === undefined || typeof t.body === 'string' || t.body instanceof Uint8Array ? (t.body as BodyInit | undefined) : JSON.stringify(t.body);
      const res = await stack.app.request(typeof t.path === 'function' ? t.path(ctx) : t.path, { method: t.method, headers, body });
      const text = await res.text();
      let parsed: any;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      const shaped = parsed && typeof parsed.error?.code === 'string' && /^[a-z0-9_]+$/.test(parsed.error.code) && typeof parsed.error.message === 'string';
      const problem =
        (t.status !== undefined && res.status !== t.status && `status ${res.status}, expected ${t.status}`) ||
        ((res.status < 400 || res.status > 499) && `status ${res.status}`) ||
        (!shaped && 'not the JSON error shape') ||
        (!res.headers.get('content-type')?.startsWith('application/json') && `content-type ${res.headers.get('content-type')}`) ||
        (/\n\s+at |<html/i.test(text) && 'a stack or HTML in the answer');
      if (problem) failures.push(`${t.name} (${t.method} ${typeof t.path === 'string' ? t.path.slice(0, 80) : 'fn'}): ${problem}: ${text.slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
    expect(await state()).toEqual(before);
  });

  it('stores SQL-looking and odd-unicode strings verbatim', async () => {
    const tricky = "Robert'); DROP TABLE runs;-- \\x00 $1 %s } { \u202e \u{1F4A9} \"quoted\" \\u0000-as-text";
    const created = await stack.request('POST', '/v1/workflows', { body: { name: 'verbatim', description: tricky, nodes: [{ id: 'a', type: 'transform', params: { value: { note: tricky } } }] } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const read = await stack.request('GET', '/v1/workflows/verbatim');
    expect(read.body.description).toBe(tricky);
    expect(read.body.nodes[0].params.value.note).toBe(tricky);
    const run = await stack.request('POST', '/v1/workflows/verbatim/runs', { body: { input: { [tricky]: tricky } } });
    expect(run.status).toBe(202);
    expect((await stack.request('GET', `/v1/runs/${run.body.id}`)).body.input).toEqual({ [tricky]: tricky });
    const runs = await stack.db.selectFrom('runs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    expect(Number(runs.n)).toBe(2);
  });
  it('refuses numbers beyond a double wherever JSON enters, with a pointer, and keeps finite ones as sent', async () => {
    const refused = async (method: string, path: string, body: string, key: string | undefined = stack.adminKey) => {
      const res = await stack.app.request(path, { method, body, headers: { ...json, ...(key ? { authorization: `Bearer ${key}` } : {}) } });
      const { error } = await res.json();
      const pointer = error.details?.[0]?.pointer;
      return { status: res.status, code: error.code, pointer, named: error.message.includes(pointer) && error.message.includes('1.8e308') };
    };
    const expected = (pointer: string) => ({ status: 400, code: 'number_out_of_range', pointer, named: true });
    expect(await refused('POST', '/v1/workflows/hostile-target/runs', '{"input": {"x": 1e400}}')).toEqual(expected('/input/x'));
    expect(await refused('POST', '/v1/workflows', '{"name": "n", "nodes": [{"id": "a", "type": "transform", "params": {"value": [-1e400]}}]}')).toEqual(expected('/nodes/0/params/value/0'));
    expect(await refused('PUT', '/v1/workflows/hostile-target', '{"name": "hostile-target", "nodes": [{"id": "a", "type": "noop", "params": {"n": 1e999}}]}')).toEqual(expected('/nodes/0/params/n'));
    expect(await refused('POST', `/v1/runs/${ctx.runId}/nodes/a/signal`, '{"payload": {"deep": {"n": 1e400}}}')).toEqual(expected('/payload/deep/n'));
    expect(await refused('POST', '/hooks/hostile-hook', '{"n": -1e400}', undefined)).toEqual(expected('/body/n'));

    // The largest and smallest doubles, 0.1 and 1/3 are stored and read back exactly as sent.
    const input = { max: 1.7976931348623157e308, big: 1e308, neg: -1e308, tiny: 5e-324, tenth: 0.1, third: 1 / 3, safe: Number.MAX_SAFE_INTEGER };
    const run = await stack.request('POST', '/v1/workflows/hostile-target/runs', { body: { input } });
    expect(run.status).toBe(202);
    expect((await stack.request('GET', `/v1/runs/${run.body.id}`)).body.input).toEqual(input);
    const hooked = await stack.app.request('/hooks/hostile-hook', { method: 'POST', body: JSON.stringify(input), headers: json });
    expect(hooked.status).toBe(202);
    expect((await stack.request('GET', `/v1/runs/${(await hooked.json()).runId}`)).body.input.body).toEqual(input);
  });
});
