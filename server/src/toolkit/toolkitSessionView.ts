// What the toolkit API answers for a session: its record, with the live
// figures (activity, expiry, network) of the server session backing it while
// it is ready, and upstream's fields this server has no use for filled as
// upstream would leave them.
import type { SessionInfo } from '@astraforge/contract/sandboxApi';
import type { ToolkitSession } from '@astraforge/contract/toolkitApi';
import type { ToolkitRecord } from './toolkitSessionRecord';

const WORKSPACE = '/workspace';
/** A stopped session's network: its policy, nothing going through it. */
const IDLE_NETWORK = { usage: { bytes_sent: 0, bytes_received: 0, connections: 0, blocked: 0 }, allowed_hosts: [], blocked: [] };

export interface ToolkitViewContext {
  /** The toolkit mode, which names the sandbox in `ref`. */
  mode: string;
  snapshotIds: string[];
  artifactsCount: number;
}

export function toolkitSessionView(rec: ToolkitRecord, backing: SessionInfo | undefined, ctx: ToolkitViewContext): ToolkitSession {
  const ref = backing ? `${ctx.mode}://${backing.id}` : '';
  return {
    id: rec.id,
    mode: rec.mode,
    image: rec.image ?? '',
    cpu: rec.cpu,
    memory: rec.memory,
    ephemeral_storage: rec.ephemeral_storage,
    restore_snapshot_id: rec.restore_snapshot_id,
    status: rec.status,
    ref,
    control_endpoint: ref,
    workspace_path: WORKSPACE,
    artifact_base_url: '',
    workspace_uid: rec.workspace_id,
    workspace_name: rec.workspace_id,
    idle_timeout_sec: rec.idle_timeout_sec,
    max_lifetime_sec: rec.max_lifetime_sec,
    last_activity_at: backing?.last_activity ?? rec.ended_at ?? rec.updated_at,
    last_heartbeat_at: rec.last_heartbeat_at,
    expires_at: backing?.expires_at ?? rec.ended_at ?? rec.updated_at,
    error_message: rec.error_message,
    metadata: rec.metadata,
    cpu_seconds: 0,
    storage_bytes: 0,
    snapshot_ids: ctx.snapshotIds,
    artifacts_count: ctx.artifactsCount,
    created_at: rec.created_at,
    updated_at: rec.updated_at,
    network:
      backing?.network ??
      (rec.network ? { mode: rec.network.mode, allow: rec.network.allow ?? [], deny: rec.network.deny ?? [], ...IDLE_NETWORK } : undefined),
  };
}
