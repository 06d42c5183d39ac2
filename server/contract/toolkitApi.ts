// The AstraForge toolkit API (/api/sandbox/..., /api/deepagent/...): the
// shapes the `astraforge-toolkit` Python client (DeepAgentClient,
// SandboxBackend) sends and reads. Errors on these paths are `{detail}`.
import { z } from 'zod';
import { NetworkPolicyRequest, SessionNetwork } from './networkPolicy';

const isoTime = z.string().describe('RFC 3339 timestamp');

/** Kubernetes-style quantities ("512Mi", "2G", "500m") or plain numbers. */
const Quantity = z.union([z.number().positive(), z.string().min(1).max(32)]);

/** Upstream ids are UUIDs; any id of these characters is taken. */
export const ToolkitId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'ids are 1 to 64 letters, digits, "-" or "_"');

export const ToolkitSessionRequest = z
  .object({
    /** A session to reuse (revived if it was stopped), or the id a new one takes. */
    id: ToolkitId.optional(),
    mode: z.string().max(64).optional(),
    image: z.string().min(1).max(200).optional(),
    cpu: Quantity.optional(),
    memory: Quantity.optional(),
    ephemeral_storage: z.string().max(32).optional(),
    /** A snapshot (of this session or another) whose files the session starts with. */
    restore_snapshot_id: z.string().min(1).max(128).nullable().optional(),
    idle_timeout_sec: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 3600)
      .optional(),
    max_lifetime_sec: z
      .number()
      .int()
      .min(1)
      .max(30 * 24 * 3600)
      .optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    /** Egress for the session's sandboxes (kept across stops); none when absent. Bounded by the server's network config. */
    network: NetworkPolicyRequest.optional(),
  })
  .passthrough();
export type ToolkitSessionRequest = z.infer<typeof ToolkitSessionRequest>;

export const ToolkitSessionStatus = z.enum(['starting', 'ready', 'failed', 'terminated']);

/** Upstream's SandboxSessionSerializer, field for field; what has no meaning here is null, "" or 0. */
export const ToolkitSession = z.object({
  id: z.string(),
  mode: z.string(),
  image: z.string(),
  cpu: Quantity.nullable(),
  memory: Quantity.nullable(),
  ephemeral_storage: z.string(),
  restore_snapshot_id: z.string().nullable(),
  status: ToolkitSessionStatus,
  /** The server session behind it now (`/v1/sessions/{id}`), as `<provider>://<session id>`; "" while stopped. */
  ref: z.string(),
  control_endpoint: z.string(),
  workspace_path: z.string(),
  artifact_base_url: z.string(),
  /** The persistent workspace holding the session's files (`/v1/workspaces`). */
  workspace_uid: z.string(),
  workspace_name: z.string(),
  idle_timeout_sec: z.number().int(),
  max_lifetime_sec: z.number().int().nullable(),
  last_activity_at: isoTime,
  last_heartbeat_at: isoTime,
  expires_at: isoTime,
  error_message: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  cpu_seconds: z.number(),
  storage_bytes: z.number().int(),
  snapshot_ids: z.array(z.string()),
  artifacts_count: z.number().int(),
  created_at: isoTime,
  updated_at: isoTime,
  /** The network policy and, while a sandbox backs the session, what went through it. */
  network: SessionNetwork.optional(),
});
export type ToolkitSession = z.infer<typeof ToolkitSession>;

export const ToolkitSessionParams = z.object({ id: z.string().min(1).max(128) });

export const ToolkitHeartbeat = z.object({ status: z.string(), last_heartbeat_at: isoTime });

export const ToolkitShellRequest = z
  .object({
    command: z.union([
      z
        .string()
        .min(1)
        .max(1024 * 1024),
      z.array(z.string().max(100_000)).min(1).max(10_000),
    ]),
    cwd: z.string().max(4096).optional(),
    timeout_sec: z.number().positive().max(86_400).optional(),
    capture_stdout: z.boolean().default(true),
    capture_stderr: z.boolean().default(true),
  })
  .passthrough();

export const ToolkitShellResult = z.object({
  exit_code: z.number().int(),
  stdout: z.string(),
  stderr: z.string(),
  duration_sec: z.number(),
});

export const ToolkitUploadRequest = z.object({
  path: z.string().min(1).max(4096),
  content: z.string(),
  encoding: z.enum(['utf-8', 'utf8', 'base64']).default('utf-8'),
});

export const ToolkitPathQuery = z.object({ path: z.string().min(1).max(4096) });

/** files/content/: `filename` names the download (Content-Disposition). */
export const ToolkitContentQuery = ToolkitPathQuery.extend({ filename: z.string().min(1).max(255).optional() });

export const ToolkitFileWritten = z.object({
  exit_code: z.number().int(),
  stdout: z.string(),
  stderr: z.string(),
  path: z.string(),
  size: z.number().int(),
});

export const ToolkitError = z.object({ detail: z.string() });

export const Conversation = z.object({ conversation_id: z.string(), sandbox_session_id: z.string(), status: z.string() });

export const ConversationParams = z.object({ id: z.string().min(1).max(128) });

export const ChatMessage = z.object({ role: z.string().min(1).max(32), content: z.string().max(1_000_000) }).passthrough();

export const ConversationMessageRequest = z.object({
  messages: z.array(ChatMessage).min(1).max(1000),
  /** Upstream streams unless told not to. */
  stream: z.boolean().default(true),
});

export const ToolEvent = z.object({
  status: z.enum(['start', 'result']),
  tool_name: z.string(),
  tool_call_id: z.string(),
  arguments: z.unknown().optional(),
  output: z.string().optional(),
});

/** One SSE `data:` chunk of a streamed reply. */
export const ConversationChunk = z.object({
  /** New assistant text, in the pieces the model sent it. */
  tokens: z.array(z.string()),
  messages: z.array(z.object({ role: z.string(), content: z.string() })),
  tool_events: z.array(ToolEvent),
});
export type ConversationChunk = z.infer<typeof ConversationChunk>;

export const ConversationReply = z.object({
  conversation_id: z.string(),
  messages: z.array(z.object({ role: z.string(), content: z.string() })),
  tool_events: z.array(ToolEvent),
});
