import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small OpenID Connect provider on 127.0.0.1 for tests: discovery, JWKS, an authorization
 * endpoint that signs in whoever `nextUser` names (no page), and a token endpoint checking the
 * client's secret, the code and its PKCE verifier, answering an RS256 id_token. `tamper` makes
 * the next id_token wrong in one way, to prove the client refuses it.
 */
export interface IssuedUser {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export type Tamper = 'wrong-key' | 'wrong-audience' | 'expired' | 'wrong-nonce' | 'wrong-issuer';

export interface OidcIssuer {
  url: string;
  clientId: string;
  clientSecret: string;
  nextUser: IssuedUser;
  tamper?: Tamper;
  /** Token requests answered, and the ones refused (bad secret, code or verifier). */
  tokenRequests: { ok: boolean; reason?: string }[];
  close(): Promise<void>;
}

const b64url = (v: Buffer | string) => Buffer.from(v).toString('base64url');

function jwt(key: KeyObject, kid: string, claims: Record<string, unknown>): string {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
  const body = b64url(JSON.stringify(claims));
  return `${head}.${body}.${b64url(sign('sha256', Buffer.from(`${head}.${body}`), key))}`;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startOidcIssuer(): Promise<OidcIssuer> {
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(6).toString('hex');
  const codes = new Map<string, { nonce: string; challenge: string; redirectUri: string; user: IssuedUser }>();
  const issuer: OidcIssuer = {
    url: '',
    clientId: `client-${randomBytes(4).toString('hex')}`,
    clientSecret: randomBytes(24).toString('base64url'),
    nextUser: { sub: 'u1', email: 'ana@example.test', email_verified: true, name: 'Ana' },
    tokenRequests: [],
    close: async () => {},
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', issuer.url);
    const json = (status: number, v: unknown) => res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(v));
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, {
        issuer: issuer.url,
        authorization_endpoint: `${issuer.url}/authorize`,
        token_endpoint: `${issuer.url}/token`,
        jwks_uri: `${issuer.url}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
        scopes_supported: ['openid', 'email', 'profile'],
      });
    }
    if (url.pathname === '/jwks') {
      return json(200, { keys: [{ ...signing.publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] });
    }
    if (url.pathname === '/authorize') {
      const p = url.searchParams;
      if (p.get('client_id') !== issuer.clientId || p.get('response_type') !== 'code' || p.get('code_challenge_method') !== 'S256') return json(400, { error: 'invalid_request' });
      const code = randomBytes(16).toString('hex');
      codes.set(code, { nonce: p.get('nonce') ?? '', challenge: p.get('code_challenge') ?? '', redirectUri: p.get('redirect_uri') ?? '', user: { ...issuer.nextUser } });
      const back = new URL(p.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', p.get('state') ?? '');
      back.searchParams.set('iss', issuer.url);
      return res.writeHead(302, { location: back.toString() }).end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      const form = new URLSearchParams(await body(req));
      const refuse = (reason: string) => (issuer.tokenRequests.push({ ok: false, reason }), json(400, { error: 'invalid_grant', error_description: reason }));
      const basic = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString('utf8');
      const [id, secret] = basic.split(':').map((s) => decodeURIComponent(s));
      if (id !== issuer.clientId || secret !== issuer.clientSecret) return refuse('client authentication failed');
      const grant = codes.get(form.get('code') ?? '');
      codes.delete(form.get('code') ?? '');
      if (!grant) return refuse('unknown or used code');
      if (form.get('redirect_uri') !== grant.redirectUri) return refuse('redirect_uri mismatch');
      if (b64url(createHash('sha256').update(form.get('code_verifier') ?? '').digest()) !== grant.challenge) return refuse('PKCE verifier mismatch');
      const now = Math.floor(Date.now() / 1000);
      const tamper = issuer.tamper;
      const claims = {
        iss: tamper === 'wrong-issuer' ? `${issuer.url}/other` : issuer.url,
        aud: tamper === 'wrong-audience' ? 'someone-else' : issuer.clientId,
        iat: tamper === 'expired' ? now - 7200 : now,
        exp: tamper === 'expired' ? now - 3600 : now + 300,
        nonce: tamper === 'wrong-nonce' ? 'not-the-nonce' : grant.nonce,
        ...grant.user,
      };
      issuer.tokenRequests.push({ ok: true });
      return json(200, {
        access_token: randomBytes(16).toString('hex'),
        token_type: 'Bearer',
        expires_in: 300,
        id_token: jwt(tamper === 'wrong-key' ? stranger.privateKey : signing.privateKey, kid, claims),
      });
    }
    json(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer.close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return issuer;
}
