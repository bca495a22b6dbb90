import type { Database } from '../../db/database.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { PeopleDeps } from './accounts.js';
import { oidcConfigured } from './env.js';
import { createMailer } from './mailer.js';
import { createOidc, type Oidc } from './oidc.js';
import { hashToken } from './tokens.js';

/** What the web process needs for people's accounts, built once from the configuration. */
export interface People extends PeopleDeps {
  /** Set when single sign-on is configured (all four OIDC_* variables). */
  oidc?: Oidc;
  /** TRUSTED_PROXY_HOPS: how many proxies' X-Forwarded-For entries to trust for the client address. */
  trustedProxyHops: number;
  close(): void;
}

export function createPeople(config: Config, db: Database, log: Logger): People {
  const mailer = createMailer(config, log);
  const oidc = oidcConfigured(config)
    ? createOidc(
        {
          issuer: config.OIDC_ISSUER!,
          clientId: config.OIDC_CLIENT_ID!,
          clientSecret: config.OIDC_CLIENT_SECRET!,
          redirectUrl: config.OIDC_REDIRECT_URL!,
          allowedDomains: config.OIDC_ALLOWED_DOMAINS,
          defaultRole: config.OIDC_DEFAULT_ROLE,
        },
        db,
        log,
        (state) => hashToken('oidc-state', state),
      )
    : undefined;
  return {
    db,
    log,
    mailer,
    oidc,
    trustedProxyHops: config.TRUSTED_PROXY_HOPS,
    publicUrl: (config.PUBLIC_URL ?? `http://localhost:${config.PORT}`).replace(/\/+$/, ''),
    close: () => mailer?.close(),
  };
}
