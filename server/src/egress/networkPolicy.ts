// A run's or session's network policy: bounded by the server's config when
// it is asked for (a request for more than the server allows is refused), and
// asked about each connection (which entry allows it, or why not). Pure: the
// addresses a name resolves to are checked apart (addressCheck.ts).
import type { NetworkPolicy, NetworkPolicyRequest } from '@astraforge/contract/networkPolicy';
import { parseRule, parseRules, ruleCovers, ruleMatches, ruleText, type HostRule } from './networkRules';

/** The most the server gives any run or session (config.network). */
export interface ServerNetworkBound {
  allow: readonly string[];
  deny: readonly string[];
  /** Whether mode "open" may be asked for at all. */
  open: boolean;
}

/** The policy a sandbox's proxy enforces. */
export interface EffectivePolicy {
  mode: NetworkPolicy['mode'];
  allow: HostRule[];
  deny: HostRule[];
}

export const NO_NETWORK: EffectivePolicy = { mode: 'none', allow: [], deny: [] };

/** A request for more than the server allows; the API answers it with 400. */
export class PolicyRefused extends Error {
  constructor(
    message: string,
    /** The entry (or mode) that asked for too much. */
    readonly entry: string,
  ) {
    super(message);
    this.name = 'PolicyRefused';
  }
}

/** The policy a request gets, or PolicyRefused when it asks for more than `bound`. */
export function boundPolicy(req: NetworkPolicyRequest | undefined, bound: ServerNetworkBound): EffectivePolicy {
  if (!req || req.mode === 'none') return NO_NETWORK;
  const deny = [...parseRules(bound.deny), ...parseRules(req.deny ?? [])];
  if (req.mode === 'open') {
    if (!bound.open)
      throw new PolicyRefused('this server does not allow open network access (network.open); ask for an allowlist', 'mode:open');
    return { mode: 'open', allow: [], deny };
  }
  const serverAllow = parseRules(bound.allow);
  if (req.allow === undefined) return { mode: 'allowlist', allow: serverAllow, deny };
  const allow: HostRule[] = [];
  for (const entry of req.allow) {
    for (const rule of parseRule(entry)) {
      if (!serverAllow.some((s) => ruleCovers(s, rule))) {
        const what = ruleText(rule);
        throw new PolicyRefused(
          `"${entry}"${what !== entry ? ` (${what})` : ''} is beyond what this server allows (network.allow: ${bound.allow.join(', ') || 'nothing'})`,
          entry,
        );
      }
      allow.push(rule);
    }
  }
  return { mode: 'allowlist', allow, deny };
}

/**
 * A request from a file in the workspace (an environment's policy), not from
 * the API's caller: what the server allows of it, the rest left out and
 * named, rather than the run refused. `open` on a server without it becomes
 * the server's allowlist; an allowlist keeps the entries the server covers.
 */
export function narrowPolicy(
  req: NetworkPolicyRequest | undefined,
  bound: ServerNetworkBound,
): { request: NetworkPolicyRequest | undefined; dropped: string[] } {
  if (!req || req.mode === 'none') return { request: req, dropped: [] };
  if (req.mode === 'open') {
    if (bound.open) return { request: req, dropped: [] };
    return { request: { mode: 'allowlist', ...(req.deny ? { deny: req.deny } : {}) }, dropped: ['mode:open'] };
  }
  if (req.allow === undefined) return { request: req, dropped: [] };
  const kept: string[] = [];
  const dropped: string[] = [];
  for (const entry of req.allow) {
    try {
      boundPolicy({ mode: 'allowlist', allow: [entry] }, bound);
      kept.push(entry);
    } catch (e) {
      if (!(e instanceof PolicyRefused)) throw e;
      dropped.push(entry);
    }
  }
  if (kept.length === 0) return { request: { mode: 'none' }, dropped };
  return { request: { ...req, allow: kept }, dropped };
}

export type Decision = { allowed: true; rule: string } | { allowed: false; rule: string; reason: string };

/** Whether the policy lets a connection to host:port (host normalized) go on, by name; the address is checked after. */
export function decide(policy: EffectivePolicy, host: string, port: number): Decision {
  if (policy.mode === 'none') return { allowed: false, rule: 'mode:none', reason: 'this sandbox has no network' };
  const denied = policy.deny.find((r) => ruleMatches(r, host, port));
  if (denied) return { allowed: false, rule: `deny:${denied.source}`, reason: `denied by "${denied.source}"` };
  if (policy.mode === 'open') return { allowed: true, rule: 'open' };
  const allowed = policy.allow.find((r) => ruleMatches(r, host, port));
  if (allowed) return { allowed: true, rule: allowed.source };
  return { allowed: false, rule: 'no-rule', reason: `no allow entry names ${host}:${port}` };
}

/** The policy as session info and run records show it. */
export function describePolicy(policy: EffectivePolicy): NetworkPolicy {
  return { mode: policy.mode, allow: policy.allow.map(ruleText), deny: policy.deny.map(ruleText) };
}
