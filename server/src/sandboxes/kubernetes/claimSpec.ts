// A session's SandboxClaim: from its warm pool, labelled with this server and
// the session, carrying the runner's per-session token to the pod (the
// downward API's annotations file, which af-runner reads at each connection
// attempt), and expiring by itself (`shutdownTime`, Delete) when this server
// stops renewing it, so a crashed server's sandboxes do not outlive it long.
import { CLAIM_GROUP, CLAIM_VERSION, type SandboxClaim } from './claimClient';

export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_INSTANCE = 'astraforge.dev/instance';
export const LABEL_SESSION = 'astraforge.dev/session';
export const TOKEN_ANNOTATION = 'astraforge.dev/runner-token';

export function claimName(sessionId: string): string {
  return `af-${sessionId}`.toLowerCase();
}

export function instanceSelector(instanceId: string): string {
  return `${LABEL_MANAGED_BY}=astraforge,${LABEL_INSTANCE}=${instanceId}`;
}

export function shutdownTime(leaseSeconds: number, now = Date.now()): string {
  return new Date(now + leaseSeconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
}

export interface ClaimInput {
  sessionId: string;
  instanceId: string;
  warmPool: string;
  token: string;
  leaseSeconds: number;
}

export function claimFor(i: ClaimInput): SandboxClaim {
  return {
    apiVersion: `${CLAIM_GROUP}/${CLAIM_VERSION}`,
    kind: 'SandboxClaim',
    metadata: {
      name: claimName(i.sessionId),
      labels: { [LABEL_MANAGED_BY]: 'astraforge', [LABEL_INSTANCE]: i.instanceId, [LABEL_SESSION]: i.sessionId },
    },
    spec: {
      warmPoolRef: { name: i.warmPool },
      lifecycle: { shutdownTime: shutdownTime(i.leaseSeconds), shutdownPolicy: 'Delete' },
      additionalPodMetadata: {
        labels: { [LABEL_SESSION]: i.sessionId },
        annotations: { [TOKEN_ANNOTATION]: i.token },
      },
    },
  };
}
