import type { Transporter } from 'nodemailer';
import type { Logger } from '../logger.js';

/** The system mailer (invitations, password resets), configured by the operator through SMTP_URL. */
export interface Mailer {
  send(mail: { to: string; subject: string; text: string }): Promise<void>;
  close(): void;
}

export function createMailer(config: { SMTP_URL?: string; MAIL_FROM: string }, log: Logger): Mailer | undefined {
  if (!config.SMTP_URL) return undefined;
  const url = config.SMTP_URL;
  let transport: Transporter | undefined;
  return {
    async send(mail) {
      try {
        // Loaded on first mail (nodemailer costs ~15 MB); bounded, so a request never waits forever.
        transport ??= (await import('nodemailer')).createTransport({ url, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 });
        await transport.sendMail({ from: config.MAIL_FROM, ...mail });
      } catch (err) {
        // The message names the server, never the URL's password; the mail's text holds a token.
        log.warn({ err: (err as Error).message }, 'system mail could not be sent');
        throw new Error('the mail server refused or did not answer');
      }
    },
    close: () => transport?.close(),
  };
}
