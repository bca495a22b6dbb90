import type { LookupAddress } from 'node:dns';
import { policyFor } from './address-policy.js';
import { guardedLookup } from './guarded-request.js';

/**
 * The address to connect to `hostname` at, for a client that is not HTTP (SMTP): resolved once
 * and refused, like http.request's connect-time check, when any address it resolves to is
 * internal and the host is not in HTTP_ALLOW_HOSTS. Connecting to exactly this address (not
 * the name again) leaves no room for a DNS answer that changes in between.
 */
export function allowedAddress(hostname: string, allowHosts: readonly string[]): Promise<string> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  const lookup = guardedLookup(policyFor(allowHosts), bare);
  return new Promise((resolve, reject) => {
    lookup(bare, { all: true }, (err, addresses) => {
      if (err) return reject(err);
      const first = Array.isArray(addresses) ? (addresses as LookupAddress[])[0]?.address : (addresses as unknown as string);
      if (!first) return reject(Object.assign(new Error(`no address for ${bare}`), { code: 'ENOTFOUND' }));
      resolve(first);
    });
  });
}
