import { z } from 'zod';

/**
 * What people's accounts read from the environment (DESIGN.md, "People"), validated with the
 * rest of the configuration in lib/config.ts. Problems never echo a value: URLs carry passwords.
 */
const ROLES = ['admin', 'editor', 'viewer'] as const;

const url = (schemes: readonly string[], hint: string) =>
  z.string().refine((s) => URL.canParse(s) && schemes.includes(new URL(s).protocol), `must be an ${hint} URL`);

const commaList = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean));

export const PEOPLE_ENV = {
  // The system mailer for invitations and password resets: smtp://user:pass@host:587 or smtps://…:465.
  SMTP_URL: url(['smtp:', 'smtps:'], 'smtp:// or smtps://').optional(),
  MAIL_FROM: z.string().min(3).max(320).default('Conveyor <conveyor@localhost>'),
  // Links in mail are built from this, never from a request's Host header.
  PUBLIC_URL: url(['http:', 'https:'], 'http:// or https://').optional(),
  OIDC_ISSUER: url(['http:', 'https:'], 'http:// or https://').optional(),
  OIDC_CLIENT_ID: z.string().min(1).max(500).optional(),
  OIDC_CLIENT_SECRET: z.string().min(1).max(2000).optional(),
  OIDC_REDIRECT_URL: url(['http:', 'https:'], 'http:// or https://').optional(),
  OIDC_ALLOWED_DOMAINS: commaList.default([]),
  OIDC_DEFAULT_ROLE: z.enum(ROLES, { error: 'must be admin, editor or viewer' }).default('viewer'),
  // Proxies in front of web that append to X-Forwarded-For (1 behind a PaaS router): sign-in
  // limits then count the client, not the router every request shares.
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
};

type PeopleEnv = { [K in keyof typeof PEOPLE_ENV]?: z.infer<(typeof PEOPLE_ENV)[K]> };

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Cross-field rules: single sign-on is all four variables or none; plain http only on loopback. */
export function peopleProblems(env: PeopleEnv): string[] {
  const oidc = ['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET', 'OIDC_REDIRECT_URL'] as const;
  const set = oidc.filter((k) => env[k] !== undefined);
  const problems: string[] = [];
  if (set.length > 0 && set.length < oidc.length) {
    problems.push(`OIDC: set all of ${oidc.join(', ')} for single sign-on (missing ${oidc.filter((k) => env[k] === undefined).join(', ')})`);
  }
  for (const k of ['OIDC_ISSUER', 'OIDC_REDIRECT_URL'] as const) {
    const v = env[k];
    if (v && new URL(v).protocol === 'http:' && !LOOPBACK.has(new URL(v).hostname)) problems.push(`${k}: must be https:// (http:// only on a loopback address)`);
  }
  return problems;
}

export function oidcConfigured(env: PeopleEnv): boolean {
  return Boolean(env.OIDC_ISSUER && env.OIDC_CLIENT_ID && env.OIDC_CLIENT_SECRET && env.OIDC_REDIRECT_URL);
}
