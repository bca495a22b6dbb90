import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { callProvider, rejection, type CallOptions } from '../../test/provider-context.js';
import { classifyError } from '../engine/node-errors.js';
import emailSend from './email-send.js';

const PASSWORD = 'smtp-pass-0e8b3f71';
interface Received {
  from: string;
  to: string[];
  raw: string;
}
const received: Received[] = [];
let connections = 0;
let port: number;
let server: SMTPServer;
const slowRecipients = new Set(['slow@example.test']);

beforeAll(async () => {
  // A real SMTP server on a random local port: plain text (no STARTTLS), AUTH PLAIN/LOGIN allowed.
  server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: true,
    logger: false,
    onConnect(_session, cb) {
      connections++;
      cb();
    },
    onAuth(auth, _session, cb) {
      if (auth.username === 'mailer' && auth.password === PASSWORD) return cb(null, { user: 'mailer' });
      cb(new Error(`535 authentication failed for ${auth.username}`));
    },
    onRcptTo(address, _session, cb) {
      if (address.address.startsWith('nobody@')) return cb(Object.assign(new Error('no such user'), { responseCode: 550 }));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address);
        received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to, raw: Buffer.concat(chunks).toString('utf8') });
        if (to.some((a) => slowRecipients.has(a))) setTimeout(() => cb(), 20_000).unref();
        else cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  received.length = 0;
  connections = 0;
});

const smtp = (data: Record<string, string | number | boolean> = {}, allow = ['127.0.0.1']): CallOptions => ({
  credential: { type: 'smtp', data: { host: '127.0.0.1', port, secure: false, username: 'mailer', password: PASSWORD, ...data } },
  settings: { httpAllowHosts: allow },
});
const mail = { from: 'Conveyor <bot@example.test>', to: 'ops@example.test', subject: 'Daily summary', text: 'All good.' };

describe('email.send', () => {
  it('delivers over SMTP with login, cc and bcc; the output lists the accepted addresses', async () => {
    const out = (await callProvider(emailSend, { ...mail, to: ['ops@example.test', 'dev@example.test'], cc: 'cc@example.test', bcc: 'audit@example.test', html: '<p>All <b>good</b>.</p>' }, smtp())) as any;
    expect(out.accepted).toEqual(['ops@example.test', 'dev@example.test', 'cc@example.test', 'audit@example.test']);
    expect(out.rejected).toEqual([]);
    expect(out.messageId).toMatch(/^<.+>$/);
    expect(out.response).toMatch(/^250/);
    expect(received).toHaveLength(1);
    const [msg] = received;
    expect(msg!.from).toBe('bot@example.test');
    expect(msg!.raw).toMatch(/^Subject: Daily summary/m);
    expect(msg!.raw).toMatch(/^Cc: cc@example.test/m);
    expect(msg!.raw).not.toMatch(/audit@example.test/); // bcc: envelope only
    expect(msg!.raw).toMatch(/X-Conveyor-Idempotency-Key: run-1:node-1/);
    expect(msg!.raw).toContain('All good.');
    expect(JSON.stringify(out)).not.toContain(PASSWORD);
  });

  it('sends without a login when the credential has none', async () => {
    await callProvider(emailSend, mail, smtp({ username: undefined as unknown as string, password: undefined as unknown as string }));
    expect(received).toHaveLength(1);
  });

  it('a refused login is smtp_auth, not retried, and the password stays out of the error', async () => {
    const err = await rejection(callProvider(emailSend, mail, smtp({ password: 'wrong-password-123' })));
    expect(err.code).toBe('smtp_auth');
    expect(classifyError(err).retryable).toBe(false);
    expect(`${err.message} ${err.stack}`).not.toMatch(/wrong-password-123/);
    expect(received).toHaveLength(0);
  });

  it('a recipient the server refuses (550) is smtp_rejected, not retried', async () => {
    const err = await rejection(callProvider(emailSend, { ...mail, to: 'nobody@example.test' }, smtp()));
    expect(err.code).toBe('smtp_rejected');
    expect(classifyError(err).retryable).toBe(false);
  });

  it('an unreachable server is smtp_error and may be retried', async () => {
    const err = await rejection(callProvider(emailSend, mail, smtp({ port: 1 })));
    expect([err.code, classifyError(err).retryable]).toEqual(['smtp_error', true]);
  });

  it('applies the SSRF guard to the SMTP host before connecting', async () => {
    const byIp = await rejection(callProvider(emailSend, mail, smtp({}, [])));
    expect(byIp.code).toBe('ssrf_blocked');
    const byName = await rejection(callProvider(emailSend, mail, smtp({ host: 'localhost' }, [])));
    expect(byName.code).toBe('ssrf_blocked');
    expect(connections).toBe(0);
    // Allowed by name: resolved, checked, and connected to the address it resolved to.
    const allowed = await callProvider(emailSend, mail, smtp({ host: 'localhost' }, ['localhost']));
    expect((allowed as any).accepted).toEqual(['ops@example.test']);
  });

  it('honours the abort signal mid-delivery', async () => {
    const ac = new AbortController();
    const pending = rejection(callProvider(emailSend, { ...mail, to: 'slow@example.test' }, { ...smtp(), signal: ac.signal }));
    await new Promise((r) => setTimeout(r, 300));
    const reason = new Error('node timed out');
    const started = Date.now();
    ac.abort(reason);
    expect(await pending).toBe(reason);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('validates params: addresses without line breaks, a body', () => {
    const ok = (p: Record<string, unknown>) => emailSend.params.safeParse({ ...mail, ...p }).success;
    expect(ok({})).toBe(true);
    expect(ok({ subject: 'x\r\nBcc: victim@example.test' })).toBe(false);
    expect(ok({ to: [] })).toBe(false);
    expect(ok({ text: undefined })).toBe(false);
    expect(ok({ text: undefined, html: '<p>x</p>' })).toBe(true);
  });
});
