// Where a process really listens, from the kernel's socket tables (the
// process's /proc/<pid>/net/tcp and tcp6, matched to its file descriptors),
// not from what it printed: for tests that must prove a server is not
// reachable from other machines.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';

export interface ListeningSocket {
  address: string;
  port: number;
  loopback: boolean;
}

const LISTEN = '0A';

/** The TCP sockets `pid` listens on. */
export function listeningSocketsOf(pid: number): ListeningSocket[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  const sockets: ListeningSocket[] = [];
  for (const [table, decode] of [
    ['tcp', ipv4],
    ['tcp6', ipv6],
  ] as const) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const [, local, , state, , , , , , inode] = line.trim().split(/\s+/);
      if (state !== LISTEN || !inodes.has(inode)) continue;
      const [hexAddress, hexPort] = local.split(':');
      sockets.push({ ...decode(hexAddress), port: parseInt(hexPort, 16) });
    }
  }
  return sockets;
}

/** The kernel writes an IPv4 address as one little-endian 32-bit word. */
function ipv4(hex: string): { address: string; loopback: boolean } {
  const bytes = Buffer.from(hex, 'hex').reverse();
  return { address: bytes.join('.'), loopback: bytes[0] === 127 };
}

/** An IPv6 address as four little-endian 32-bit words; ::1 and IPv4-mapped 127.x are loopback. */
function ipv6(hex: string): { address: string; loopback: boolean } {
  const bytes = Buffer.concat([0, 8, 16, 24].map((i) => Buffer.from(hex.slice(i, i + 8), 'hex').reverse()));
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16));
  const address = groups.join(':');
  const mapped = groups.slice(0, 6).join(':') === '0:0:0:0:0:ffff';
  return { address, loopback: address === '0:0:0:0:0:0:0:1' || (mapped && bytes[12] === 127) };
}

/** This machine's IPv4 addresses other than loopback (those another machine could reach). */
export function externalIPv4Addresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && a.family === 'IPv4' && !a.internal)
    .map((a) => a!.address);
}

/** Whether a TCP connection to host:port is accepted. */
export function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 3000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}
