import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTargetServer, type TargetServer } from '../../test/target-server.js';
import { backends, runToCompletion, startStack, type TestStack } from '../../test/stack.js';
import { sweep } from './sweeper.js';
import { unstorableEscape } from './storable-text.js';

const node = (run: { nodes: { id: string }[] }, id: string) => run.nodes.find((n) => n.id === id) as any;

describe('unstorableEscape', () => {
  it('finds NUL and lone surrogates in JSON text, keys included, and nothing else', () => {
    expect(unstorableEscape(JSON.stringify({ v: '\ud800' }))).toMatch(/surrogate \(\\ud800\)/);
    expect(unstorableEscape(JSON.stringify({ '\udfff': 1 }))).toMatch(/surrogate/);
    expect(unstorableEscape(JSON.stringify(['a\u0000b']))).toMatch(/NUL/);
    expect(unstorableEscape(JSON.stringify({ emoji: '😀', text: '\\ud800 is how you write it', nul: '\\u0000' }))).toBeUndefined();
    expect(unstorableEscape(JSON.stringify({ odd: '\\\ud800' }))).toMatch(/surrogate/);
  });
});

/**
 * A result PostgreSQL cannot store is a node failure, recorded once: before, the result
 * statement failed, the node stayed `running`, and the sweeper re-queued it (calling the target
 * again) every 30 s, whatever its retry policy.
 */
describe.each(backends())('results PostgreSQL cannot store, on the %s backend', (backend) => {
  let stack: TestStack;
  let target: TargetServer;

  beforeAll(async () => {
    target = await startTargetServer();
    target.route('GET', '/lone-surrogate', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"v":"\\ud800","ok":true}');
    });
    stack = await startStack({ backend, env: { HTTP_ALLOW_HOSTS: '127.0.0.1' } });
  });
  afterAll(async () => {
    await stack?.close();
    await target?.close();
  });

  it('fails a node whose target answers a lone surrogate with invalid_output, and never calls the target again', async () => {
    const run = await runToCompletion(stack, {
      name: 'surrogate-target',
      nodes: [{ id: 'call', type: 'http.request', params: { url: `${target.url}/lone-surrogate` }, retry: { attempts: 1 } }],
    });
    expect(run.status).toBe('failed');
    expect(node(run, 'call')).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'invalid_output' } });
    expect(node(run, 'call').error.message).toMatch(/surrogate/);
    await sweep(stack.engine, { graceMs: 0 });
    await new Promise((r) => setTimeout(r, 500));
    expect(target.requests.filter((r) => r.path === '/lone-surrogate')).toHaveLength(1);
  });

  it('fails an expression that makes a lone surrogate, in a value or a key', async () => {
    const run = await runToCompletion(stack, {
      name: 'surrogate-expr',
      nodes: [
        { id: 'value', type: 'transform', params: { value: '{{ $split("😀", "")[0] }}' } },
        { id: 'key', type: 'transform', params: { value: '{{ {$split("😀", "")[1]: 1} }}' } },
        { id: 'fine', type: 'transform', params: { value: { text: '\\ud800 {{ "😀" }}' } } },
      ],
    });
    expect(node(run, 'value')).toMatchObject({ status: 'failed', error: { code: 'invalid_output' } });
    expect(node(run, 'key')).toMatchObject({ status: 'failed', error: { code: 'invalid_output' } });
    expect(node(run, 'fine')).toMatchObject({ status: 'succeeded', output: { text: '\\ud800 😀' } });
  });

  it('records an error whose message holds a lone surrogate, made storable', async () => {
    const run = await runToCompletion(stack, {
      name: 'surrogate-error',
      nodes: [{ id: 'boom', type: 'transform', params: { value: '{{ $error("bad " & $split("😀", "")[0]) }}' } }],
    });
    expect(node(run, 'boom')).toMatchObject({ status: 'failed', error: { code: 'expression_error' } });
    expect(node(run, 'boom').error.message).toContain('bad \ufffd');
  });

  it('records a result PostgreSQL itself refuses as a failed node, at once, not a re-queue', async () => {
    // A real refusal from the database (a data exception raised for this node's success), so the
    // path is the one any unforeseen unstorable value would take.
    await sql`create function refuse_node() returns trigger language plpgsql as $$
      begin raise exception 'value refused for the test' using errcode = '22023'; end $$`.execute(stack.db);
    await sql`create trigger refuse_node before update on node_runs for each row
      when (new.node_id = 'refused' and new.status = 'succeeded') execute function refuse_node()`.execute(stack.db);
    const run = await runToCompletion(stack, {
      name: 'refused-result',
      nodes: [{ id: 'refused', type: 'transform', params: { value: 1 }, retry: { attempts: 3 } }],
    });
    expect(run.status).toBe('failed');
    expect(node(run, 'refused')).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'invalid_output' } });
    expect(node(run, 'refused').error.message).toMatch(/value refused for the test/);
  });
});
