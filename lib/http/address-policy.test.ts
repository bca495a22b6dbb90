import type { LookupAddress } from 'node:dns';
import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { createAddressPolicy, invalidAllowEntries } from './address-policy.js';
import { guardedLookup } from './guarded-request.js';

const closed = createAddressPolicy([]);

describe('address policy: refused classes (ipaddr.js ranges)', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.254', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'], // cloud metadata
    ['169.254.0.1', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.254', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.0.8', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'], // IPv4-mapped: judged as the IPv4 address
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'linkLocal'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::7f00:1', 'rfc6052'], // NAT64
    ['64:ff9b::a9fe:a9fe', 'rfc6052'],
    ['64:ff9b:1::a00:1', 'rfc6052'],
    ['2002:7f00:1::', '6to4'],
    ['2001::1', 'teredo'],
    ['2001:db8::1', 'reserved'],
    ['100::1', 'discard'],
    ['::7f00:1', 'not global unicast'], // IPv4-compatible (deprecated): never a public address
  ])('%s is refused as %s', (address, range) => {
    expect(closed.refusal(address, address)).toBe(range);
  });

  it('agrees with ipaddr.js on the class of each refused IPv4 address', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.0.10', '169.254.169.254', '100.64.1.1', '0.0.0.0']) {
      expect(closed.refusal(address, address)).toBe(ipaddr.parse(address).range());
    }
  });

  it.each(['93.184.216.34', '8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8'])(
    '%s (public unicast) is allowed',
    (address) => {
      expect(closed.refusal('example.com', address)).toBeUndefined();
    },
  );

  it('says when an address is not an IP at all', () => {
    expect(closed.refusal('x', 'not-an-ip')).toMatch(/not an IP address/);
  });
});

describe('address policy: HTTP_ALLOW_HOSTS', () => {
  it('opens a hostname, whatever it resolves to, case- and trailing-dot-insensitively', () => {
    const policy = createAddressPolicy(['localhost', 'Internal.Example.', ' spaced.example ']);
    expect(policy.refusal('localhost', '127.0.0.1')).toBeUndefined();
    expect(policy.refusal('localhost', '::1')).toBeUndefined();
    expect(policy.refusal('LOCALHOST.', '127.0.0.1')).toBeUndefined();
    expect(policy.refusal('internal.example', '10.0.0.5')).toBeUndefined();
    expect(policy.refusal('spaced.example', '10.0.0.5')).toBeUndefined();
    // The name opens that name only: the same address under another name, or as a literal, stays shut.
    expect(policy.refusal('other.example', '127.0.0.1')).toBe('loopback');
    expect(policy.refusal('127.0.0.1', '127.0.0.1')).toBe('loopback');
    expect(policy.refusal('sub.localhost', '127.0.0.1')).toBe('loopback');
  });

  it('opens a single IP, IPv4 or IPv6, for any hostname', () => {
    const policy = createAddressPolicy(['127.0.0.1', '[::1]', 'fd00::5']);
    expect(policy.refusal('127.0.0.1', '127.0.0.1')).toBeUndefined();
    expect(policy.refusal('anything.example', '127.0.0.1')).toBeUndefined();
    expect(policy.refusal('::ffff:127.0.0.1', '::ffff:127.0.0.1')).toBeUndefined(); // the mapped form is the same address
    expect(policy.refusal('::1', '::1')).toBeUndefined();
    expect(policy.refusal('fd00::5', 'fd00::5')).toBeUndefined();
    expect(policy.refusal('127.0.0.2', '127.0.0.2')).toBe('loopback');
    expect(policy.refusal('fd00::6', 'fd00::6')).toBe('uniqueLocal');
  });

  it('opens a CIDR, IPv4, IPv6 and IPv4-mapped', () => {
    const policy = createAddressPolicy(['10.1.0.0/16', 'fd00:1::/32', '::ffff:192.168.5.0/120']);
    expect(policy.refusal('a', '10.1.200.3')).toBeUndefined();
    expect(policy.refusal('a', '::ffff:10.1.0.1')).toBeUndefined();
    expect(policy.refusal('a', '10.2.0.1')).toBe('private');
    expect(policy.refusal('a', 'fd00:1:ffff::1')).toBeUndefined();
    expect(policy.refusal('a', 'fd00:2::1')).toBe('uniqueLocal');
    expect(policy.refusal('a', '192.168.5.77')).toBeUndefined();
    expect(policy.refusal('a', '192.168.6.1')).toBe('private');
  });

  it('invalidAllowEntries names what is neither a hostname, an IP nor a CIDR', () => {
    expect(invalidAllowEntries(['localhost', 'api.example.com', '10.0.0.0/8', '::1', '[::1]', 'fd00::/8', 'host.'])).toEqual([]);
    expect(invalidAllowEntries(['http://x.example', '10.0.0.0/99', 'a b', 'under_score.example', '-bad.example'])).toEqual([
      'http://x.example',
      '10.0.0.0/99',
      'a b',
      'under_score.example',
      '-bad.example',
    ]);
  });
});

describe('guardedLookup: the policy on what the socket may connect to', () => {
  const answer = (addresses: LookupAddress[]) => (_host: string, _opts: unknown, cb: (err: NodeJS.ErrnoException | null, a: LookupAddress[]) => void) =>
    setImmediate(() => cb(null, addresses));
  const call = (lookup: ReturnType<typeof guardedLookup>, all: boolean) =>
    new Promise<{ err: (Error & { code?: string }) | null; address: unknown; family?: number }>((resolve) =>
      lookup('svc.example', { all } as never, ((err: Error | null, address: unknown, family?: number) => resolve({ err, address, family })) as never),
    );

  it('answers a list when asked with all:true (autoSelectFamily) and one address otherwise', async () => {
    const lookup = guardedLookup(closed, 'svc.example', answer([{ address: '2606:4700::1', family: 6 }, { address: '93.184.216.34', family: 4 }]));
    expect(await call(lookup, true)).toEqual({ err: null, address: [{ address: '2606:4700::1', family: 6 }, { address: '93.184.216.34', family: 4 }], family: undefined });
    expect(await call(lookup, false)).toEqual({ err: null, address: '2606:4700::1', family: 6 });
  });

  it('refuses the whole answer when any address is internal (no rebinding to the second record)', async () => {
    const lookup = guardedLookup(closed, 'svc.example', answer([{ address: '93.184.216.34', family: 4 }, { address: '169.254.169.254', family: 4 }]));
    for (const all of [true, false]) {
      const { err } = await call(lookup, all);
      expect(err?.code).toBe('ssrf_blocked');
      expect(err?.message).toContain('169.254.169.254');
      expect(err?.message).toContain("'svc.example'");
      expect(err?.message).toContain('HTTP_ALLOW_HOSTS');
    }
  });

  it('passes resolver errors through, and treats an empty answer as not found', async () => {
    const failing = guardedLookup(closed, 'svc.example', (_h, _o, cb) => cb(Object.assign(new Error('nope'), { code: 'ENOTFOUND' }), []));
    expect((await call(failing, true)).err?.code).toBe('ENOTFOUND');
    expect((await call(guardedLookup(closed, 'svc.example', answer([])), true)).err?.code).toBe('ENOTFOUND');
  });

  it('lets an allowed hostname resolve to internal addresses', async () => {
    const lookup = guardedLookup(createAddressPolicy(['svc.example']), 'svc.example', answer([{ address: '10.0.0.7', family: 4 }]));
    expect(await call(lookup, true)).toMatchObject({ err: null, address: [{ address: '10.0.0.7', family: 4 }] });
  });
});
