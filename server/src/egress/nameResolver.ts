// How the egress proxy turns a name into addresses: network.resolve first (a
// name pinned to an address, as curl --resolve), then the configured DNS
// servers, or the host's resolver. The proxy looks a name up once per
// connection and connects to the very address it checked.
import { lookup, Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

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
  const dns = config.dnsServers?.length ? new Resolver({ timeout: 5000, tries: 2 }) : undefined;
  dns?.setServers([...config.dnsServers!]);
  return {
    async lookup(host) {
      const fixed = pinned.get(host);
      if (fixed) return [fixed];
      if (dns) {
        const [v4, v6] = await Promise.allSettled([dns.resolve4(host), dns.resolve6(host)]);
        const found = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
        if (!found.length) throw new Error(`${host} has no address`);
        return found;
      }
      const found = await lookup(host, { all: true, verbatim: true });
      return found.map((a) => a.address).filter((a) => isIP(a) !== 0);
    },
  };
}
