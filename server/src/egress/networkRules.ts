// Allow and deny entries, parsed: what each matches (host and port), and
// whether one entry covers another (a request's entry must be covered by an
// entry of the server's). Pure: no I/O, no DNS.
import { isIP } from 'node:net';
import { NETWORK_PRESETS, type NetworkPreset } from '@astraforge/contract/networkPolicy';
import { PRESET_HOSTS } from './presets';

/** Without a port an entry means the web ports. */
export const WEB_PORTS: readonly number[] = [80, 443];

export interface HostRule {
  /** exact: that name or address; wildcard: every name under `host` (not `host` itself). */
  kind: 'exact' | 'wildcard';
  /** Lower case, no trailing dot; an IPv6 address without brackets. */
  host: string;
  port?: number;
  /** The entry as written (a preset's name for its hosts). */
  source: string;
}

function isPreset(entry: string): entry is NetworkPreset {
  return (NETWORK_PRESETS as readonly string[]).includes(entry);
}

/** A host as the proxy compares it: lower case, no trailing dot, IPv6 without brackets. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h.replace(/\.$/, '');
}

/** One entry as its rules (a preset gives one per host). The entry's syntax was checked by the contract. */
export function parseRule(entry: string): HostRule[] {
  const text = entry.trim().toLowerCase();
  if (isPreset(text)) return PRESET_HOSTS[text].flatMap((h) => parseRule(h).map((r) => ({ ...r, source: text })));
  let host = text;
  let port: number | undefined;
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  if (m) {
    host = m[1]!;
    port = Number(m[2]);
  }
  host = normalizeHost(host);
  if (host.startsWith('*.')) return [{ kind: 'wildcard', host: host.slice(2), port, source: entry }];
  return [{ kind: 'exact', host, port, source: entry }];
}

export function parseRules(entries: readonly string[]): HostRule[] {
  return entries.flatMap(parseRule);
}

function portMatches(rule: HostRule, port: number): boolean {
  return rule.port === undefined ? WEB_PORTS.includes(port) : rule.port === port;
}

function hostMatches(rule: HostRule, host: string): boolean {
  if (rule.kind === 'exact') return rule.host === host;
  // A wildcard names DNS names only: never an address that happens to end the same way.
  return isIP(host) === 0 && host.endsWith(`.${rule.host}`);
}

/** Whether a connection to host:port (host normalized) is one this rule names. */
export function ruleMatches(rule: HostRule, host: string, port: number): boolean {
  return hostMatches(rule, host) && portMatches(rule, port);
}

/** Whether everything `inner` matches, `outer` matches too. */
export function ruleCovers(outer: HostRule, inner: HostRule): boolean {
  const ports = inner.port === undefined ? WEB_PORTS : [inner.port];
  if (!ports.every((p) => portMatches(outer, p))) return false;
  if (outer.kind === 'exact') return inner.kind === 'exact' && inner.host === outer.host;
  if (inner.kind === 'exact') return hostMatches(outer, inner.host);
  return inner.host === outer.host || inner.host.endsWith(`.${outer.host}`);
}

/** The entry's text as a session's info shows it: host[:port], wildcards with their star. */
export function ruleText(rule: HostRule): string {
  const host = rule.kind === 'wildcard' ? `*.${rule.host}` : isIP(rule.host) === 6 ? `[${rule.host}]` : rule.host;
  return rule.port === undefined ? host : `${host}:${rule.port}`;
}
