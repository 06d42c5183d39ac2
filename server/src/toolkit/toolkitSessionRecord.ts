// A toolkit session as it is kept on disk (one JSON file each, reloaded at
// start): what the client asked for at creation, upstream's defaults for what
// it left out, and which server session backs it while it is ready.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { NetworkPolicyRequest } from '@astraforge/contract/networkPolicy';
import type { ToolkitSessionRequest } from '@astraforge/contract/toolkitApi';

/** Upstream's defaults (SandboxSessionCreateSerializer). */
export const DEFAULT_IDLE_TIMEOUT_SEC = 300;
export const DEFAULT_MAX_LIFETIME_SEC = 3600;

const Quantity = z.union([z.number(), z.string()]);
export const ToolkitRecord = z.object({
  id: z.string(),
  mode: z.string(),
  image: z.string().optional(),
  cpu: Quantity.nullable(),
  memory: Quantity.nullable(),
  ephemeral_storage: z.string(),
  restore_snapshot_id: z.string().nullable(),
  idle_timeout_sec: z.number().int(),
  max_lifetime_sec: z.number().int(),
  metadata: z.record(z.string(), z.unknown()),
  /** Asked for at creation; every sandbox that backs the session gets it. */
  network: NetworkPolicyRequest.optional(),
  workspace_id: z.string(),
  status: z.enum(['starting', 'ready', 'failed', 'terminated']),
  /** The server session backing it while it is ready. */
  backing_id: z.string().optional(),
  error_message: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  last_heartbeat_at: z.string(),
  ended_at: z.string().optional(),
});
export type ToolkitRecord = z.infer<typeof ToolkitRecord>;

/** A new session's record, starting; its id is the client's, or set once its first sandbox started. */
export function newToolkitRecord(
  req: ToolkitSessionRequest,
  defaults: { mode: string; idle: number; lifetime: number; restore: string | undefined },
): ToolkitRecord {
  const now = new Date().toISOString();
  return {
    // Unless the client chose one, the session takes its first sandbox's id (set once it started),
    // so that the sandbox API (/v1/sessions/{id}) reaches it too while it runs on that sandbox.
    id: req.id ?? '',
    mode: req.mode ?? defaults.mode,
    image: req.image,
    cpu: req.cpu ?? null,
    memory: req.memory ?? null,
    ephemeral_storage: req.ephemeral_storage ?? '',
    restore_snapshot_id: defaults.restore ?? null,
    idle_timeout_sec: defaults.idle,
    max_lifetime_sec: defaults.lifetime,
    metadata: req.metadata ?? {},
    ...(req.network ? { network: req.network } : {}),
    workspace_id: `toolkit-${randomUUID()}`,
    status: 'starting',
    error_message: '',
    created_at: now,
    updated_at: now,
    last_heartbeat_at: now,
  };
}
