// One listed session as the server holds it in memory: its record on disk,
// its sandbox and egress while it runs, and its lease. The lifecycle
// (sessionManager.ts) owns these; the operations on a running session
// (sessionExec.ts) read and update them.
import type { SessionNetwork } from '@astraforge/contract/networkPolicy';
import type { SessionInfo } from '@astraforge/contract/sandboxApi';
import type { EgressListener } from '../egress/egressListener';
import type { Sandbox } from '../sandboxes/sandboxProvider';
import type { QuotaWatcher } from './quotaWatcher';
import { noNetworkInfo } from './sessionEgress';
import type { SessionRecord } from './sessionRecords';

export interface LiveSession {
  record: SessionRecord;
  sandbox?: Sandbox;
  quota?: QuotaWatcher;
  expiresAt: number;
  lastActivity: number;
  /** Commands under way: a session is not reaped while one runs. */
  running: number;
  ending?: Promise<void>;
  egress?: EgressListener;
  /** The network as it was when the session ended. */
  networkAtEnd?: SessionNetwork;
}

/** The lease after activity at `now`: the session's own ttl, within its lifetime if it has one. */
export function leaseEnd(record: SessionRecord, now: number): number {
  const lease = now + record.ttl_seconds * 1000;
  if (!record.max_lifetime_seconds) return lease;
  return Math.min(lease, Date.parse(record.created_at) + record.max_lifetime_seconds * 1000);
}

/** What the API says of a session; `providerName` prefixes its container id. */
export function sessionInfo(live: LiveSession, providerName: string): SessionInfo {
  const r = live.record;
  return {
    id: r.id,
    image: r.image,
    status: r.status,
    cwd: r.cwd,
    workspace_id: r.workspace_id,
    created_at: r.created_at,
    expires_at: new Date(live.expiresAt).toISOString(),
    last_activity: new Date(live.lastActivity).toISOString(),
    ttl_seconds: r.ttl_seconds,
    max_lifetime_seconds: r.max_lifetime_seconds,
    container_id: `${providerName}-${r.id}`,
    network: live.egress?.info() ?? live.networkAtEnd ?? noNetworkInfo(),
  };
}
