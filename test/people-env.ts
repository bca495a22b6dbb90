import type { OidcIssuer } from './oidc-issuer.js';
import type { SmtpSink } from './smtp-sink.js';

/** The environment of a web process with the system mailer and single sign-on pointed at local fakes. */
export function peopleEnv(opts: { base: string; publicUrl?: string; smtp: SmtpSink; issuer: OidcIssuer }): Record<string, string> {
  return {
    SMTP_URL: opts.smtp.url,
    MAIL_FROM: 'Conveyor <noreply@example.test>',
    PUBLIC_URL: opts.publicUrl ?? opts.base,
    OIDC_ISSUER: opts.issuer.url,
    OIDC_CLIENT_ID: opts.issuer.clientId,
    OIDC_CLIENT_SECRET: opts.issuer.clientSecret,
    OIDC_REDIRECT_URL: `${opts.base}/ui/oidc/callback`,
    OIDC_ALLOWED_DOMAINS: 'example.test',
    OIDC_DEFAULT_ROLE: 'viewer',
  };
}
