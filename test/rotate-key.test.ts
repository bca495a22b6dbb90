import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertCredential, updateCredentialSecret } from '../db/credentials.js';
import { hintsFor } from '../lib/credentials/types.js';
import { rotateCredentials } from '../lib/credentials/rotate.js';
import { createKeyring } from '../lib/crypto.js';
import { startProcess } from './process.js';
import { startStack, waitForRun, type TestStack } from './stack.js';
import { startTargetServer, type TargetServer } from './target-server.js';

const CREDENTIALS = 80;
const PER_WORKFLOW = 4;
const oldKey = { id: 'old', key: new Uint8Array(randomBytes(32)) };
const newKey = { id: 'new', key: new Uint8Array(randomBytes(32)) };
const b64 = (k: Uint8Array) => Buffer.from(k).toString('base64');

describe('npm run rotate-key under load', () => {
  let stack: TestStack;
  let target: TargetServer;
  let workspaceId: string;
  const tokens = new Map<string, Set<string>>();

  beforeAll(async () => {
    target = await startTargetServer();
    // Every process already holds the new key first and the old one after: step 1 of a rotation.
    stack = await startStack({ env: { HTTP_ALLOW_HOSTS: '127.0.0.1', ENCRYPTION_KEY: `new:${b64(newKey.key)},old:${b64(oldKey.key)}` }, concurrency: 20 });
    workspaceId = (await stack.db.selectFrom('workspaces').select('id').where('is_default', '=', true).executeTakeFirstOrThrow()).id;
    // Credentials written while only the old key existed.
    const before = createKeyring([oldKey]);
    for (let i = 0; i < CREDENTIALS; i++) {
      const id = randomUUID();
      const token = `tok-${i}-${randomBytes(8).toString('hex')}`;
      tokens.set(`c${i}`, new Set([token]));
      const sealed = await before.seal(JSON.stringify({ token }), { workspaceId, credentialId: id });
      await insertCredential(stack.db, { id, workspaceId, name: `c${i}`, type: 'bearer', hints: hintsFor({ token }), key_id: sealed.keyId, nonce: sealed.nonce, ciphertext: sealed.ciphertext });
    }
    for (let w = 0; w < CREDENTIALS / PER_WORKFLOW; w++) {
      const nodes = Array.from({ length: PER_WORKFLOW }, (_, j) => {
        const c = `c${w * PER_WORKFLOW + j}`;
        return { id: `n${j}`, type: 'http.request', credential: c, params: { url: `${target.url}/echo?c=${c}` }, retry: { attempts: 1 } };
      });
      expect((await stack.request('POST', '/v1/workflows', { body: { name: `load-${w}`, nodes } })).status).toBe(201);
    }
  });
  afterAll(async () => {
    await stack?.close();
    await target?.close();
  });

  it('re-encrypts every credential under the new key while runs use them, and loses no run', async () => {
    const runIds: string[] = [];
    let loading = true;
    const load = (async () => {
      for (let i = 0; loading || i < 21; i++) {
        const res = await stack.request('POST', `/v1/workflows/load-${i % (CREDENTIALS / PER_WORKFLOW)}/runs`);
        expect(res.status).toBe(202);
        runIds.push(res.body.id);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    const script = startProcess('scripts/rotate-key.ts', stack.env);
    // A user's update lands while the script starts and works: compare-and-set keeps it.
    const credentials = (await stack.request('GET', '/v1/credentials')).body.items as { id: string; name: string }[];
    const updatedToken = `tok-updated-${randomBytes(8).toString('hex')}`;
    const c5 = credentials.find((c) => c.name === 'c5')!;
    expect((await stack.request('PUT', `/v1/credentials/${c5.id}`, { body: { data: { token: updatedToken } } })).status).toBe(200);
    tokens.get('c5')!.add(updatedToken);

    const exit = await script.exited;
    loading = false;
    await load;
    expect(exit.code, script.lines.join('\n')).toBe(0);
    const summary = JSON.parse(script.lines.find((l) => l.includes('every credential is under the current key'))!);
    expect(summary).toMatchObject({ currentKeyId: 'new', failed: [], remaining: 0 });
    // c5 may already be under the new key (the user's update) by the time the script reads it.
    expect(summary.rotated + summary.raced).toBeGreaterThanOrEqual(CREDENTIALS - 1);
    expect(summary.rotated + summary.raced).toBeLessThanOrEqual(CREDENTIALS);

    const runs = await Promise.all(runIds.map((id) => waitForRun(stack, id, 60_000)));
    expect(runs.length).toBeGreaterThan(20);
    expect(runs.filter((r) => r.status !== 'succeeded').map((r) => ({ id: r.id, nodes: r.nodes.map((n: { error: unknown }) => n.error) }))).toEqual([]);
    // Every call carried its own credential's token (either of c5's), never another's or a garbled one.
    const wrong = target.requests
      .map((r) => ({ c: new URL(r.path, 'http://x').searchParams.get('c')!, auth: String(r.headers.authorization) }))
      .filter(({ c, auth }) => !tokens.get(c)?.has(auth.replace(/^Bearer /, '')));
    expect(wrong).toEqual([]);
    expect(target.requests.length).toBe(runs.length * PER_WORKFLOW);

    // All under the new key: the old one can now be dropped from ENCRYPTION_KEY.
    const rows = await stack.db.selectFrom('credentials').selectAll().execute();
    expect(rows.filter((r) => r.key_id !== 'new')).toEqual([]);
    const onlyNew = createKeyring([newKey]);
    for (const row of rows) {
      const data = JSON.parse(await onlyNew.open({ keyId: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext }, { workspaceId, credentialId: row.id }));
      expect(tokens.get(row.name)!.has(data.token)).toBe(true);
      // The user's update won over the rotators' stale re-encryption.
      if (row.name === 'c5') expect(data.token).toBe(updatedToken);
    }
    // A second run of the script has nothing left to do.
    const again = startProcess('scripts/rotate-key.ts', stack.env);
    expect((await again.exited).code).toBe(0);
    expect(JSON.parse(again.lines.find((l) => l.includes('every credential'))!)).toMatchObject({ rotated: 0, remaining: 0 });
  });

  it('never overwrites a secret replaced mid-rotation, and two rotators at once are safe', async () => {
    const before = createKeyring([oldKey]);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const id = randomUUID();
      ids.push(id);
      const sealed = await before.seal(JSON.stringify({ token: `race-${i}` }), { workspaceId, credentialId: id });
      await insertCredential(stack.db, { id, workspaceId, name: `race${i}`, type: 'bearer', hints: {}, key_id: sealed.keyId, nonce: sealed.nonce, ciphertext: sealed.ciphertext });
    }
    const ring = createKeyring([newKey, oldKey]);
    let replaced = 0;
    // Between a rotator's read and its write, secrets are replaced: race0 by a web process still on
    // the old key list (same key id, new nonce: only the nonce tells the rows apart), race1 through the API.
    const stale = createKeyring([oldKey]);
    const intercepting = {
      ...ring,
      async open(sealed: Parameters<typeof ring.open>[0], binding: Parameters<typeof ring.open>[1]) {
        const plain = await ring.open(sealed, binding);
        if (binding.credentialId === ids[0] && !(replaced & 1)) {
          replaced |= 1;
          const resealed = await stale.seal(JSON.stringify({ token: 'race-0-by-user' }), binding);
          await updateCredentialSecret(stack.db, workspaceId, ids[0]!, { key_id: resealed.keyId, nonce: resealed.nonce, ciphertext: resealed.ciphertext }, {});
        }
        if (binding.credentialId === ids[1] && !(replaced & 2)) {
          replaced |= 2;
          expect((await stack.request('PUT', `/v1/credentials/${ids[1]}`, { body: { data: { token: 'race-1-by-user' } } })).status).toBe(200);
        }
        return plain;
      },
    };
    // Two rotators at once; whichever reads race0 or race1 first sees it replaced before it writes.
    const [a, b] = await Promise.all([rotateCredentials(stack.db, intercepting, { batchSize: 1 }), rotateCredentials(stack.db, intercepting, { batchSize: 1 })]);
    expect(replaced).toBe(3);
    // Those two stale writes must lose (plus any row both rotators read).
    expect(a.raced + b.raced).toBeGreaterThanOrEqual(2);
    expect([a.remaining, b.remaining, a.failed.length, b.failed.length]).toEqual([0, 0, 0, 0]);
    const rows = await stack.db.selectFrom('credentials').selectAll().where('id', 'in', ids).execute();
    for (const row of rows) {
      const { token } = JSON.parse(await createKeyring([newKey]).open({ keyId: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext }, { workspaceId, credentialId: row.id }));
      expect(token).toBe(row.id === ids[0] ? 'race-0-by-user' : row.id === ids[1] ? 'race-1-by-user' : `race-${row.name.slice(4)}`);
    }
  });

  it('reports credentials it cannot decrypt and exits 1', async () => {
    const id = randomUUID();
    const stray = createKeyring([{ id: 'lost', key: new Uint8Array(randomBytes(32)) }]);
    const sealed = await stray.seal(JSON.stringify({ token: 'unreadable' }), { workspaceId, credentialId: id });
    await insertCredential(stack.db, { id, workspaceId, name: 'stray', type: 'bearer', hints: {}, key_id: sealed.keyId, nonce: sealed.nonce, ciphertext: sealed.ciphertext });
    const script = startProcess('scripts/rotate-key.ts', stack.env);
    expect((await script.exited).code).toBe(1);
    const line = script.lines.find((l) => l.includes('not under the current key'))!;
    expect(JSON.parse(line)).toMatchObject({ failed: [{ id, keyId: 'lost', reason: expect.stringContaining('no longer holds') }], remaining: 1 });
    expect(line).not.toContain('unreadable');
  });
});
