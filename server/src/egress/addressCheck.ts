// Which addresses a sandbox may never reach by default: loopback, private,
// link-local and cloud metadata, multicast, the reserved and documentation
// ranges, and the host's own interfaces. The proxy checks the address it is
// about to connect to (after its own lookup), so a name that resolves into one
// of these is refused the same as the address itself. Only an exact ip:port
// in network.allowPrivate opens one.
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

export type AddressCategory = 'loopback' | 'private' | 'link-local' | 'metadata' | 'multicast' | 'reserved' | 'server';

const METADATA = new Set(['169.254.169.254', 'fd00:ec2::254', '100.100.100.200']);

function v4List(entries: [string, number][]): BlockList {
  const list = new BlockList();
  for (const [net, prefix] of entries) list.addSubnet(net, prefix, 'ipv4');
  return list;
}

function v6List(entries: [string, number][]): BlockList {
  const list = new BlockList();
  for (const [net, prefix] of entries) list.addSubnet(net, prefix, 'ipv6');
  return list;
}

const V4: [AddressCategory, BlockList][] = [
  ['loopback', v4List([['127.0.0.0', 8]])],
  ['link-local', v4List([['169.254.0.0', 16]])],
  [
    'private',
    v4List([
      ['10.0.0.0', 8],
      ['172.16.0.0', 12],
      ['192.168.0.0', 16],
      ['100.64.0.0', 10],
    ]),
  ],
  ['multicast', v4List([['224.0.0.0', 4]])],
  [
    'reserved',
    v4List([
      ['0.0.0.0', 8],
      ['192.0.0.0', 24],
      ['192.0.2.0', 24],
      ['192.88.99.0', 24],
      ['198.18.0.0', 15],
      ['198.51.100.0', 24],
      ['203.0.113.0', 24],
      ['240.0.0.0', 4],
    ]),
  ],
];

const V6: [AddressCategory, BlockList][] = [
  ['loopback', v6List([['::1', 128]])],
  ['link-local', v6List([['fe80::', 10]])],
  [
    'private',
    v6List([
      ['fc00::', 7],
      ['fec0::', 10],
    ]),
  ],
  ['multicast', v6List([['ff00::', 8]])],
  [
    'reserved',
    v6List([
      ['::', 128],
      ['100::', 64],
      ['2001:db8::', 32],
      ['2001::', 23],
    ]),
  ],
];

/** The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4), which is what it reaches. */
function embeddedV4(ip: string): string | undefined {
  const lower = ip.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const list = new BlockList();
  list.addSubnet('::ffff:0:0', 96, 'ipv6');
  list.addSubnet('64:ff9b::', 96, 'ipv6');
  const groups = expandV6(lower);
  if (!groups) return undefined;
  if (list.check(lower, 'ipv6')) return hexToV4(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return hexToV4(groups[1]!, groups[2]!);
  return undefined;
}

function hexToV4(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** An IPv6 address as its eight 16-bit groups. */
function expandV6(ip: string): number[] | undefined {
  if (ip.includes('.')) return undefined;
  const [head, tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const missing = 8 - h.length - t.length;
  if (tail === undefined && h.length !== 8) return undefined;
  return [...h, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...t].map((g) => parseInt(g, 16));
}

/** The category of an address no sandbox reaches by default, or undefined for a public one. */
export function forbiddenCategory(ip: string, ownAddresses: ReadonlySet<string> = new Set()): AddressCategory | undefined {
  const family = isIP(ip);
  if (family === 0) return 'reserved';
  if (METADATA.has(ip.toLowerCase())) return 'metadata';
  const v4 = family === 6 ? embeddedV4(ip) : undefined;
  if (v4) return forbiddenCategory(v4, ownAddresses);
  const range = family === 4 ? V4.find(([, list]) => list.check(ip, 'ipv4')) : V6.find(([, list]) => list.check(ip, 'ipv6'));
  if (range) return range[0];
  return ownAddresses.has(ip.toLowerCase()) ? 'server' : undefined;
}

/** ip:port as allowPrivate entries write it (IPv6 in brackets). */
export function endpointKey(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip.toLowerCase()}]:${port}` : `${ip}:${port}`;
}

export interface AddressPolicy {
  /** Exact ip:port entries that may be reached although their address is forbidden. */
  allowPrivate: ReadonlySet<string>;
  /** The host's own interface addresses. */
  ownAddresses: ReadonlySet<string>;
}

/** Why an address may not be connected to, or undefined when it may. */
export function addressRefusal(ip: string, port: number, policy: AddressPolicy): { category: AddressCategory; reason: string } | undefined {
  const category = forbiddenCategory(ip, policy.ownAddresses);
  if (!category || policy.allowPrivate.has(endpointKey(ip, port))) return undefined;
  const what = category === 'server' ? "one of the server's own addresses" : `a ${category} address`;
  return { category, reason: `${endpointKey(ip, port)} is ${what} (only network.allowPrivate opens one, by exact ip:port)` };
}

/** Every address of the host's interfaces, lower case. */
export function hostAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address.toLowerCase().replace(/%.*$/, ''));
  return out;
}

/** allowPrivate entries as keys: `10.0.0.5:5000`, `[fd00::1]:443`. */
export function allowPrivateKeys(entries: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const e of entries) {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(e.trim());
    if (m && isIP(m[1]!)) out.add(endpointKey(m[1]!, Number(m[2])));
  }
  return out;
}
