import { z } from 'zod';
import type { CredentialData, CredentialType } from '../providers/types.js';

/** Each credential type's data, validated on write. Values are secrets: never logged, never returned. */
const secret = z.string().min(1).max(8192);
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048);
export const CREDENTIAL_SCHEMAS = {
  bearer: z.object({ token: secret }).strict(),
  basic: z.object({ username: z.string().min(1).max(1024), password: secret }).strict(),
  header: z.object({ name: z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, 'must be an HTTP header name'), value: secret }).strict(),
  openai: z.object({ apiKey: secret, baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048).optional() }).strict(),
  hmac: z.object({ secret }).strict(),
  // An incoming-webhook URL (its path is the secret) or a bot token for chat.postMessage.
  slack: z
    .object({ webhookUrl: httpUrl.optional(), botToken: secret.optional(), baseUrl: httpUrl.optional() })
    .strict()
    .refine((d) => (d.webhookUrl === undefined) !== (d.botToken === undefined), 'give exactly one of webhookUrl or botToken'),
  smtp: z
    .object({
      host: z.string().min(1).max(253),
      port: z.number().int().min(1).max(65535),
      secure: z.boolean().optional().describe('true: TLS from the start (port 465); false: STARTTLS when offered'),
      username: z.string().min(1).max(1024).optional(),
      password: secret.optional(),
    })
    .strict(),
  anthropic: z.object({ apiKey: secret, baseUrl: httpUrl.optional() }).strict(),
} satisfies Record<CredentialType, z.ZodType>;

export const CREDENTIAL_TYPES = Object.keys(CREDENTIAL_SCHEMAS) as CredentialType[];

/** Fields that are not secret and may be shown as they are. */
export const PUBLIC_FIELDS: ReadonlySet<string> = new Set(['username', 'name', 'baseUrl', 'host', 'port', 'secure']);

/** `sk-…7f3a`: enough to recognise a secret, never enough to use it. */
export function mask(value: string): string {
  if (value.length <= 8) return '…';
  const head = value.match(/^[A-Za-z]{1,4}[-_]/)?.[0] ?? '';
  return `${head}…${value.slice(-4)}`;
}

export function hintsFor(data: CredentialData): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, PUBLIC_FIELDS.has(k) || typeof v !== 'string' ? String(v) : mask(v)]));
}
