// The sandbox API (Sandkasten-compatible): request and response schemas.
import { z } from 'zod';
import { NetworkPolicyRequest, SessionNetwork } from './networkPolicy';

const isoTime = z.string().describe('RFC 3339 timestamp');

export const SessionStatus = z.enum(['running', 'expired', 'crashed', 'destroyed']);
export type SessionStatus = z.infer<typeof SessionStatus>;

export const WorkspaceId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, ".", "_" and "-", at most 128, not starting with a symbol');

export const CreateSessionRequest = z
  .object({
    image: z.string().min(1).max(200).optional(),
    ttl_seconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600)
      .optional(),
    workspace_id: WorkspaceId.optional(),
    /** Egress through the server's proxy; none when absent. Bounded by the server's network config (400 beyond it). */
    network: NetworkPolicyRequest.optional(),
  })
  .strict();
export type CreateSessionRequest = z.infer<typeof CreateSessionRequest>;

export const SessionInfo = z.object({
  id: z.string(),
  image: z.string(),
  status: SessionStatus,
  cwd: z.string(),
  workspace_id: z.string().optional(),
  created_at: isoTime,
  expires_at: isoTime,
  last_activity: isoTime,
  ttl_seconds: z.number().int(),
  /** A hard end set at creation (the toolkit API's max_lifetime_sec), if any. */
  max_lifetime_seconds: z.number().int().optional(),
  /** Sandkasten names the container; here, the sandbox that backs the session. */
  container_id: z.string(),
  /** The session's network policy and what went through it. */
  network: SessionNetwork.optional(),
});
export type SessionInfo = z.infer<typeof SessionInfo>;

export const SessionList = z.array(SessionInfo);

export const SessionIdParams = z.object({ id: z.string().min(1).max(128) });

export const SessionStats = z.object({
  memory_bytes: z.number().int(),
  memory_limit: z.number().int().optional(),
  cpu_usage_usec: z.number().int(),
});
export type SessionStats = z.infer<typeof SessionStats>;

export const ExecRequest = z
  .object({
    cmd: z
      .string()
      .min(1)
      .max(1024 * 1024),
    timeout_ms: z
      .number()
      .int()
      .min(1)
      .max(24 * 3600 * 1000)
      .optional(),
    raw_output: z.boolean().optional(),
  })
  .strict();
export type ExecRequest = z.infer<typeof ExecRequest>;

export const ExecResult = z.object({
  exit_code: z.number().int(),
  cwd: z.string(),
  output: z.string(),
  truncated: z.boolean(),
  duration_ms: z.number(),
});
export type ExecResult = z.infer<typeof ExecResult>;

/** Data of the exec/stream SSE events. */
export const ExecChunkEvent = z.object({ chunk: z.string(), timestamp: z.number() });
export const ExecDoneEvent = z.object({
  exit_code: z.number().int(),
  cwd: z.string(),
  duration_ms: z.number(),
  truncated: z.boolean().optional(),
});
export const ExecErrorEvent = z.object({ error: z.string(), error_code: z.string().optional() });

export const FsWriteRequest = z.union([
  z.object({ path: z.string().min(1).max(4096), text: z.string() }).strict(),
  z.object({ path: z.string().min(1).max(4096), content_base64: z.string().base64() }).strict(),
]);
export type FsWriteRequest = z.infer<typeof FsWriteRequest>;

export const FsReadQuery = z.object({
  path: z.string().min(1).max(4096),
  max_bytes: z.coerce
    .number()
    .int()
    .min(0)
    .max(64 * 1024 * 1024)
    .optional(),
});

export const FsReadResult = z.object({
  path: z.string(),
  content_base64: z.string(),
  truncated: z.boolean(),
});

export const OkResult = z.object({ ok: z.literal(true) });
export const UploadResult = z.object({ ok: z.literal(true), paths: z.array(z.string()) });

export const WorkspaceInfo = z.object({
  id: z.string(),
  created_at: isoTime,
  size_bytes: z.number().int().optional(),
  size_mb: z.number().optional(),
  session_count: z.number().int(),
  active_session_count: z.number().int(),
  labels: z.record(z.string(), z.string()).optional(),
});
export type WorkspaceInfo = z.infer<typeof WorkspaceInfo>;
export const WorkspaceList = z.object({ workspaces: z.array(WorkspaceInfo) });
export const WorkspaceIdParams = z.object({ id: WorkspaceId });

export const HealthResult = z.object({ ok: z.literal(true) });
