// The run API (/api): snapshots in, runs with a persisted event stream, diffs out.
import { z } from 'zod';
import { DiffPath } from './diffPath';

const isoTime = z.string().describe('RFC 3339 timestamp');

export const SnapshotResult = z.object({ snapshot_id: z.string(), files: z.number().int(), bytes: z.number().int() });
export type SnapshotResult = z.infer<typeof SnapshotResult>;

export const AgentName = z.enum(['command', 'codex', 'deepagent']);
export type AgentName = z.infer<typeof AgentName>;

export const RunStatus = z.enum(['queued', 'provisioning', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted']);
export type RunStatus = z.infer<typeof RunStatus>;
export const TERMINAL_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled', 'interrupted'];

export const ErrorContext = z
  .object({
    file: z.string().max(4096).optional(),
    range: z.object({ start_line: z.number().int().min(0), end_line: z.number().int().min(0) }).optional(),
    diagnostics: z.array(z.string().max(20_000)).max(100).optional(),
    terminal_output: z.string().max(200_000).optional(),
  })
  .strict();

export const RunTask = z
  .object({
    kind: z.enum(['spec', 'error']),
    prompt: z.string().max(200_000),
    /** For the command agent: the shell command to run in the workspace copy. */
    command: z.string().min(1).max(100_000).optional(),
    context: ErrorContext.optional(),
  })
  .strict();
export type RunTask = z.infer<typeof RunTask>;

export const CreateRunRequest = z
  .object({
    agent: AgentName,
    task: RunTask,
    snapshot_id: z.string().min(1).max(64),
  })
  .strict();
export type CreateRunRequest = z.infer<typeof CreateRunRequest>;

export const TokenUsage = z.object({ input_tokens: z.number().int(), output_tokens: z.number().int(), total_tokens: z.number().int() });

export const Run = z.object({
  id: z.string(),
  agent: AgentName,
  task: RunTask,
  status: RunStatus,
  created_at: isoTime,
  updated_at: isoTime,
  started_at: isoTime.optional(),
  finished_at: isoTime.optional(),
  session_id: z.string().optional(),
  snapshot_id: z.string(),
  error: z.string().optional(),
  usage: TokenUsage.optional(),
  last_seq: z.number().int(),
});
export type Run = z.infer<typeof Run>;

export const RunIdParams = z.object({ id: z.string().min(1).max(64) });

export const RunListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** Opaque cursor from a previous page's next_cursor. */
  cursor: z.string().max(200).optional(),
});
export const RunList = z.object({ runs: z.array(Run), next_cursor: z.string().optional() });

/** Every event carries seq (equal to the SSE id), type and ts; the rest depends on type. */
export const RunEvent = z
  .object({
    seq: z.number().int().min(1),
    type: z.string(),
    ts: isoTime,
  })
  .catchall(z.unknown());
export type RunEvent = z.infer<typeof RunEvent>;

export const RunEventsQuery = z.object({
  /** Same as the Last-Event-ID header, for clients that cannot set headers. */
  after: z.coerce.number().int().min(0).optional(),
});

export const DiffFile = z.object({
  path: DiffPath,
  old_path: DiffPath.optional(),
  status: z.enum(['added', 'modified', 'deleted', 'renamed']),
  binary: z.boolean(),
  old_mode: z.string().optional(),
  new_mode: z.string().optional(),
  base_sha256: z.string().optional(),
  patch: z.string(),
});
export type DiffFile = z.infer<typeof DiffFile>;
export const RunDiff = z.object({ run_id: z.string(), files: z.array(DiffFile), computed_at: isoTime.optional() });
export type RunDiff = z.infer<typeof RunDiff>;

/** The files as they were in the run's snapshot: the base of a three-way merge with the user's local edits. */
const WorkspacePath = z
  .string()
  .min(1)
  .max(4096)
  .refine(
    (p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0'),
    'a path inside the workspace, relative, without ".."',
  );
export const BaseFilesRequest = z.object({ paths: z.array(WorkspacePath).min(1).max(1000) }).strict();
export const BaseFiles = z.object({
  files: z.array(
    z.object({
      path: z.string(),
      /** Absent when the snapshot had no regular file there. */
      content_base64: z.string().optional(),
    }),
  ),
  /** Paths left out to keep the answer small: ask again for them. */
  remaining: z.array(z.string()),
});
export type BaseFiles = z.infer<typeof BaseFiles>;

export const FollowUpRequest = z
  .object({
    message: z.string().max(200_000).optional(),
    /** For the command agent: another command in the same sandbox. */
    command: z.string().min(1).max(100_000).optional(),
  })
  .strict()
  .refine((b) => b.message !== undefined || b.command !== undefined, 'send a message or a command');
export type FollowUpRequest = z.infer<typeof FollowUpRequest>;
