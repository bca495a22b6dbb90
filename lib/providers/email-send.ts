import { z } from 'zod';
import { redactionValues } from '../credentials/secrets.js';
import { allowedAddress } from '../http/allowed-address.js';
import { ProviderError, permanent, transient } from './errors.js';
import { defineProvider, type Json } from './types.js';

const headerText = (max: number) => z.string().min(1).max(max).regex(/^[^\r\n\0]*$/, 'must not contain CR, LF or NUL');
const address = headerText(998).describe('an address, or "Name <address>"');
const addresses = z.union([address, z.array(address).min(1).max(100)]);

const params = z
  .object({
    from: address,
    to: addresses,
    cc: addresses.optional(),
    bcc: addresses.optional(),
    subject: headerText(998),
    text: z.string().max(5_000_000).optional(),
    html: z.string().max(5_000_000).optional(),
  })
  .strict()
  .refine((p) => p.text !== undefined || p.html !== undefined, 'give `text`, `html` or both');

/** Time limits of one delivery: the node's own timeout and signal still bound the whole call. */
const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000, dnsTimeout: 10_000 };

export default defineProvider({
  type: 'email.send',
  description: 'Sends an email over SMTP (credential `smtp` {host, port, secure?, username?, password?}; the SSRF guard applies to the host). Output: {messageId, accepted, rejected, response}.',
  params,
  credential: ['smtp'],
  async run(ctx) {
    const { params: p, credential } = ctx;
    if (!credential) throw permanent('credential_missing', 'email.send needs an smtp credential: set the node\'s `credential`');
    ctx.signal.throwIfAborted();
    const { host, port, secure, username, password } = credential.data;
    const hostname = String(host);
    let ip: string;
    try {
      ip = await allowedAddress(hostname, ctx.settings.httpAllowHosts);
    } catch (err) {
      if (err instanceof ProviderError) throw err;
      throw transient('dns_error', `could not resolve the SMTP host ${hostname}`);
    }
    ctx.signal.throwIfAborted();
    // Loaded on first use: nodemailer adds ~15 MB to a process that never sends mail.
    const { createTransport } = await import('nodemailer');
    const transport = createTransport({
      // The checked address, so the connection goes where the guard looked; the name for TLS.
      host: ip,
      servername: hostname,
      tls: { servername: hostname },
      port: Number(port),
      secure: secure === true,
      ...(username !== undefined ? { auth: { user: String(username), pass: String(password ?? '') } } : {}),
      ...TIMEOUTS,
      logger: false,
    });
    try {
      const info = await transport.sendMail({
        from: p.from,
        to: p.to,
        cc: p.cc,
        bcc: p.bcc,
        subject: p.subject,
        text: p.text,
        html: p.html,
        headers: { 'X-Conveyor-Idempotency-Key': ctx.idempotencyKey },
        signal: ctx.signal,
      });
      return {
        messageId: info.messageId ?? null,
        accepted: list(info.accepted),
        rejected: list(info.rejected),
        response: typeof info.response === 'string' ? info.response.slice(0, 500) : null,
      };
    } catch (err) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      // A server may quote the login back in its refusal: never pass it on.
      throw smtpError(err, hostname, redactionValues(credential));
    } finally {
      transport.close();
    }
  },
});

function list(value: unknown): Json {
  return Array.isArray(value) ? value.map((a) => (typeof a === 'string' ? a : String((a as { address?: unknown }).address ?? a))) : [];
}

/** Nodemailer's error codes and the server's reply code as a node error: 5xx and refused logins are final. */
function smtpError(err: unknown, host: string, secrets: readonly string[]): ProviderError {
  const e = err as { code?: string; responseCode?: number; message?: string };
  let message = `SMTP ${host}: ${String(e.message ?? err)}`;
  for (const secret of secrets.filter((s) => s.length >= 4)) message = message.split(secret).join('[redacted]');
  message = message.slice(0, 500);
  if (e.code === 'EAUTH') return permanent('smtp_auth', message);
  if (e.code === 'EENVELOPE' || e.code === 'EMESSAGE' || (e.responseCode !== undefined && e.responseCode >= 500)) return permanent('smtp_rejected', message);
  return transient('smtp_error', message);
}
