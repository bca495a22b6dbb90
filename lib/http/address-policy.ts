import ipaddr from 'ipaddr.js';

/**
 * The SSRF policy of outbound HTTP: only public unicast addresses, unless HTTP_ALLOW_HOSTS
 * names the host, the IP or a CIDR holding it. Address classes come from ipaddr.js, not regexes:
 * loopback, private, link-local (cloud metadata), CGNAT, unspecified, multicast, reserved,
 * NAT64/6to4/Teredo (they embed IPv4 addresses) are all refused; an IPv4-mapped IPv6 address
 * is judged as the IPv4 address it maps to, and any other IPv6 address outside global unicast
 * (2000::/3) is refused too (the deprecated IPv4-compatible ::a.b.c.d among them).
 */
export interface AddressPolicy {
  /** Why `address` may not be connected to for `hostname`, or undefined when it may. */
  refusal(hostname: string, address: string): string | undefined;
}

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');

export function createAddressPolicy(allowHosts: readonly string[]): AddressPolicy {
  const names = new Set<string>();
  const cidrs: Cidr[] = [];
  for (const entry of allowHosts.map((h) => h.trim().toLowerCase().replace(/\.$/, '')).filter(Boolean)) {
    const bare = entry.replace(/^\[|\]$/g, '');
    if (entry.includes('/')) cidrs.push(normaliseCidr(ipaddr.parseCIDR(bare)));
    else if (ipaddr.isValid(bare)) {
      const ip = ipaddr.process(bare);
      cidrs.push([ip, ip.kind() === 'ipv4' ? 32 : 128]);
    } else names.add(entry);
  }
  return {
    refusal(hostname, address) {
      if (names.has(hostname.toLowerCase().replace(/\.$/, ''))) return undefined;
      if (!ipaddr.isValid(address)) return `'${address}' is not an IP address`;
      // process(): an IPv4-mapped IPv6 address becomes the IPv4 address it reaches.
      const ip = ipaddr.process(address);
      if (cidrs.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits))) return undefined;
      const range = ip.range();
      if (range !== 'unicast') return range;
      if (ip.kind() === 'ipv6' && !(ip as ipaddr.IPv6).match(GLOBAL_UNICAST_V6)) return 'not global unicast';
      return undefined;
    },
  };
}

/** Validates HTTP_ALLOW_HOSTS entries; returns the ones that are neither a hostname, an IP nor a CIDR. */
export function invalidAllowEntries(allowHosts: readonly string[]): string[] {
  return allowHosts.filter((entry) => {
    const bare = entry.trim().replace(/^\[|\]$/g, '');
    if (bare.includes('/')) {
      try {
        ipaddr.parseCIDR(bare);
        return false;
      } catch {
        return true;
      }
    }
    return !ipaddr.isValid(bare) && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(bare);
  });
}

function normaliseCidr([net, bits]: Cidr): Cidr {
  if (net.kind() === 'ipv6' && (net as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(net as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return [net, bits];
}

const shared = new Map<string, AddressPolicy>();

/** The policy for an allow-list, built once per distinct list (a process has one: HTTP_ALLOW_HOSTS). */
export function policyFor(allowHosts: readonly string[]): AddressPolicy {
  const key = allowHosts.join(',');
  let policy = shared.get(key);
  if (!policy) {
    if (shared.size >= 100) shared.clear();
    shared.set(key, (policy = createAddressPolicy(allowHosts)));
  }
  return policy;
}
