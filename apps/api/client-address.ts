import type { Context } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';

/**
 * The address a request came from, for per-client limits. Behind `hops` trusted proxies (a
 * PaaS router, a load balancer) the peer is the last proxy, so the client is the entry that
 * many places from the right of X-Forwarded-For; a client cannot forge what its own proxies
 * append. With no trusted proxies the header is ignored.
 */
export function clientAddress(c: Context, trustedProxyHops: number): string | undefined {
  if (trustedProxyHops > 0) {
    const chain = (c.req.header('x-forwarded-for') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const entry = chain[chain.length - trustedProxyHops];
    if (entry) return entry;
  }
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined;
  }
}
