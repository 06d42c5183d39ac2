// How the egress proxy turns a name into addresses: network.resolve first (a
// name pinned to an address, as curl --resolve), then DNS: the configured
// servers, or the host's (from resolv.conf). The proxy looks a name up once
// per connection and connects to the very address it checked.
//
// Why DNS queries (c-ares) and not getaddrinfo: getaddrinfo runs on libuv's
// small thread pool, which the server's file I/O shares, and a sandbox could
// tie it up with names that take long to fail. /etc/hosts is not read either:
// names the host pins for itself are no business of a sandbox's.
import { Resolver } from 'node:dns/promises';

export interface NameResolver {
  /** The addresses `host` (a normalized name, not an address) has now; throws when it has none. */
  lookup(host: string): Promise<string[]>;
}

export interface ResolverConfig {
  /** name -> address, checked first. */
  pinned: Readonly<Record<string, string>>;
  /** DNS servers (`ip` or `ip:port`) to ask instead of the host's resolver. */
  dnsServers?: readonly string[];
}

export function createNameResolver(config: ResolverConfig): NameResolver {
  const pinned = new Map(Object.entries(config.pinned).map(([name, ip]) => [name.toLowerCase().replace(/\.$/, ''), ip]));
  const dns = new Resolver({ timeout: 5000, tries: 2 });
  if (config.dnsServers?.length) dns.setServers([...config.dnsServers]);
  return {
    async lookup(host) {
      const fixed = pinned.get(host);
      if (fixed) return [fixed];
      const [v4, v6] = await Promise.allSettled([dns.resolve4(host), dns.resolve6(host)]);
      const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
      if (!found.length) throw new Error(`${host} has no address`);
      return found;
    },
  };
}
