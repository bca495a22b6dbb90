import * as client from 'openid-client';
import type { Database } from '../../db/database.js';
import { insertOidcLogin, takeOidcLogin } from '../../db/oidc-logins.js';
import type { Role } from '../../db/types.js';
import { ensureUser, findUserByEmail, membershipsOf, upsertMembership } from '../../db/users.js';
import { ensureDefaultWorkspace } from '../../db/workspaces.js';
import type { Logger } from '../logger.js';

/** Single sign-on with OpenID Connect: authorization code + PKCE, state and nonce checked. */
export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUrl: string;
  /** Lower-cased email domains allowed in; empty: any. */
  allowedDomains: readonly string[];
  defaultRole: Role;
}

/** A sign-in between the redirect and the callback lives this long. */
const LOGIN_TTL_SECONDS = 10 * 60;

/** Why a callback is refused: shown to the person on a plain page, never with a token in it. */
export class OidcRefusal extends Error {
  constructor(
    readonly code: 'state_mismatch' | 'provider_error' | 'email_unverified' | 'domain_not_allowed' | 'no_workspace' | 'token_invalid',
    message: string,
  ) {
    super(message);
    this.name = 'OidcRefusal';
  }
}

export interface Oidc {
  /** Where to send the browser: the issuer's authorization endpoint with state, nonce and PKCE. */
  start(): Promise<URL>;
  /** The callback's query string → the signed-in user and the workspace they land in. */
  finish(query: URLSearchParams): Promise<{ user: { id: string; email: string; name: string }; workspaceId: string; role: Role; created: boolean }>;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export function createOidc(settings: OidcSettings, db: Database, log: Logger, hashState: (state: string) => Buffer): Oidc {
  let discovered: Promise<client.Configuration> | undefined;
  const configuration = () =>
    (discovered ??= (async () => {
      const issuer = new URL(settings.issuer);
      // Plain http is accepted only for an issuer on this machine (local identity providers, tests).
      const insecure = issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname);
      const config = await client.discovery(issuer, settings.clientId, { client_secret: settings.clientSecret }, client.ClientSecretBasic(settings.clientSecret), {
        execute: insecure ? [client.allowInsecureRequests] : [],
        timeout: 10,
      });
      // openid-client 6 trusts the TLS channel for the id_token unless told to check its signature.
      client.enableNonRepudiationChecks(config);
      return config;
    })().catch((err) => {
      discovered = undefined; // the next sign-in tries discovery again
      throw err;
    }));

  return {
    async start() {
      const config = await configuration();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const codeVerifier = client.randomPKCECodeVerifier();
      await insertOidcLogin(db, { stateHash: hashState(state), nonce, codeVerifier, ttlSeconds: LOGIN_TTL_SECONDS });
      return client.buildAuthorizationUrl(config, {
        redirect_uri: settings.redirectUrl,
        scope: 'openid email profile',
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
    },

    async finish(query) {
      const state = query.get('state');
      // Single use: the state is spent before the code is exchanged, so a replay finds nothing.
      const login = state ? await takeOidcLogin(db, hashState(state)) : undefined;
      if (!state || !login) throw new OidcRefusal('state_mismatch', 'This sign-in link is unknown, used or expired. Start again from the sign-in page.');
      if (query.get('error')) throw new OidcRefusal('provider_error', `The identity provider refused the sign-in (${query.get('error')!.slice(0, 100)}).`);
      const config = await configuration();
      // The redirect URL as configured, not as this request's Host header says.
      const current = new URL(settings.redirectUrl);
      current.search = query.toString();
      let claims: client.IDToken | undefined;
      try {
        const tokens = await client.authorizationCodeGrant(config, current, {
          pkceCodeVerifier: login.code_verifier,
          expectedState: state,
          expectedNonce: login.nonce,
          idTokenExpected: true,
        });
        claims = tokens.claims();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'OIDC callback refused');
        throw new OidcRefusal('token_invalid', 'The identity provider’s answer could not be verified. Start again from the sign-in page.');
      }
      const email = typeof claims?.email === 'string' ? claims.email.trim().toLowerCase() : '';
      if (!email || claims?.email_verified !== true) throw new OidcRefusal('email_unverified', 'Your identity provider did not confirm your email address, so it cannot sign you in here.');
      const domain = email.slice(email.lastIndexOf('@') + 1);
      if (settings.allowedDomains.length > 0 && !settings.allowedDomains.includes(domain)) {
        throw new OidcRefusal('domain_not_allowed', `Accounts of ${domain} cannot sign in here.`);
      }
      const name = typeof claims?.name === 'string' && claims.name.trim() ? claims.name.trim().slice(0, 200) : email;
      const existing = await findUserByEmail(db, email);
      if (existing) {
        const [first] = await membershipsOf(db, existing.id);
        if (!first) throw new OidcRefusal('no_workspace', 'Your account belongs to no workspace. Ask an admin to invite you.');
        return { user: { id: existing.id, email: existing.email, name: existing.name }, workspaceId: first.workspace_id, role: first.role, created: false };
      }
      const workspace = await ensureDefaultWorkspace(db);
      const { user, created } = await ensureUser(db, { email, name, passwordHash: null, oidcSubject: String(claims!.sub) });
      if (created) await upsertMembership(db, user.id, workspace.id, settings.defaultRole);
      const [first] = await membershipsOf(db, user.id);
      if (!first) throw new OidcRefusal('no_workspace', 'Your account belongs to no workspace. Ask an admin to invite you.');
      return { user: { id: user.id, email: user.email, name: user.name }, workspaceId: first.workspace_id, role: first.role, created };
    },
  };
}
