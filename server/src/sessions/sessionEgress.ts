// A session's network: its policy bounded by the server's (a request for more
// is INVALID_REQUEST), and, when it has any, its own egress listener, bound
// into the sandbox and relayed to its loopback with the proxy variables set.
// A running session's policy may change later, within the same bounds.
import type { NetworkPolicy, NetworkPolicyRequest, SessionNetwork } from '@astraforge/contract/networkPolicy';
import type { EgressListener, EgressObserver } from '../egress/egressListener';
import type { EgressProxy } from '../egress/egressProxy';
import { describePolicy, NO_NETWORK, PolicyRefused, type EffectivePolicy } from '../egress/networkPolicy';
import { EGRESS_RELAY_PORT, proxyEnvironment } from '../egress/sandboxEnvironment';
import { AppError } from '../errors';
import type { SandboxAttachments } from '../sandboxes/sandboxProvider';

/** The policy a request gets on this server, or the 400 that says what was too much. */
export function boundSessionNetwork(egress: EgressProxy | undefined, req: NetworkPolicyRequest | undefined): EffectivePolicy {
  if (!req || req.mode === 'none') return NO_NETWORK;
  if (!egress) throw new AppError('INVALID_REQUEST', 'this server gives sandboxes no network', { network: req });
  try {
    return egress.bound(req);
  } catch (e) {
    if (e instanceof PolicyRefused) throw new AppError('INVALID_REQUEST', `network: ${e.message}`, { entry: e.entry });
    throw e;
  }
}

/**
 * What the server allows of a policy from a workspace file (an
 * environment's), the entries beyond it left out and named: a repository
 * cannot widen its own egress, nor fail its runs by asking.
 */
export function narrowSessionNetwork(
  egress: EgressProxy | undefined,
  req: NetworkPolicyRequest | undefined,
): { request: NetworkPolicyRequest | undefined; dropped: string[] } {
  if (!req || req.mode === 'none') return { request: req, dropped: [] };
  if (!egress) return { request: undefined, dropped: req.mode === 'open' ? ['mode:open'] : (req.allow ?? ["(the server's list)"]) };
  return egress.narrow(req);
}

/** Sets a running session's policy; INVALID_REQUEST beyond the server's, or for a sandbox started without network. */
export function changeSessionNetwork(
  egress: EgressProxy | undefined,
  listener: EgressListener | undefined,
  req: NetworkPolicyRequest,
): EffectivePolicy {
  const policy = boundSessionNetwork(egress, req);
  if (!listener)
    throw new AppError(
      'INVALID_REQUEST',
      'network: this sandbox was started without network (no proxy, no relay); start a new run with it',
    );
  listener.setPolicy(policy);
  return policy;
}

export interface SessionEgress {
  listener: EgressListener;
  /** The attachments with the egress relay and the proxy variables added. */
  attachments: SandboxAttachments;
}

export async function openSessionEgress(
  egress: EgressProxy,
  sessionId: string,
  policy: EffectivePolicy,
  hostUid: number,
  attachments: SandboxAttachments | undefined,
  observer: EgressObserver | undefined,
): Promise<SessionEgress> {
  const listener = await egress.open(sessionId, policy, hostUid);
  listener.observe(observer);
  return {
    listener,
    attachments: {
      ...attachments,
      egressRelay: { hostSocket: listener.socketPath, port: EGRESS_RELAY_PORT },
      environment: { ...attachments?.environment, ...proxyEnvironment(EGRESS_RELAY_PORT) },
    },
  };
}

/** What a session's info says of a session without network. */
export function noNetworkInfo(): SessionNetwork {
  return idleNetworkInfo(describePolicy(NO_NETWORK));
}

/** A policy with nothing known to have gone through it (a session restored from its record after a restart). */
export function idleNetworkInfo(policy: NetworkPolicy): SessionNetwork {
  return {
    ...policy,
    usage: { bytes_sent: 0, bytes_received: 0, connections: 0, blocked: 0 },
    allowed_hosts: [],
    blocked: [],
  };
}
