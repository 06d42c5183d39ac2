// The run API (/api): snapshots in, runs with a persisted event stream, diffs out.
import { z } from 'zod';
import { DiffPath } from './diffPath';
import { NetworkPolicy, NetworkPolicyRequest, NetworkUsage } from './networkPolicy';
import { AgentName, RunStatus, RunTask, TokenUsage } from './runTask';

export * from './runTask';
// The events keep their import path: everything about runs comes from here.
export * from './runEvents';

const isoTime = z.string().describe('RFC 3339 timestamp');

export const SnapshotResult = z.object({ snapshot_id: z.string(), files: z.number().int(), bytes: z.number().int() });
export type SnapshotResult = z.infer<typeof SnapshotResult>;

/** A workspace folder's URI as VS Code gives it (Uri.toString()); runs are listed by it. */
const WorkspaceUri = z.string().min(1).max(4096);

/** The workspace folder a run came from, so every window of it finds the run and Review opens against it. */
export const RunWorkspace = z.object({
  uri: WorkspaceUri,
  /** The folder's display name. */
  name: z.string().min(1).max(256),
});
export type RunWorkspace = z.infer<typeof RunWorkspace>;

/** Where a run the server started by itself came from: an error tracker's alert (see alertsApi). */
export const RunSource = z.object({
  kind: z.enum(['sentry', 'glitchtip']),
  /** The tracker's issue: its id, title and link. */
  issue_id: z.string().max(200),
  title: z.string().max(500),
  url: z.string().max(2000).optional(),
  /** The alert behind the run (GET /api/alerts). */
  alert_id: z.string().max(200),
});
export type RunSource = z.infer<typeof RunSource>;

export const CreateRunRequest = z
  .object({
    agent: AgentName,
    task: RunTask,
    snapshot_id: z.string().min(1).max(64),
    workspace: RunWorkspace.strict().optional(),
    /** Egress for the run's sandbox; none when absent. Bounded by the server's network config (400 beyond it). */
    network: NetworkPolicyRequest.optional(),
  })
  .strict();
export type CreateRunRequest = z.infer<typeof CreateRunRequest>;

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
  /** Absent on runs created without one (and on runs from before it was recorded). */
  workspace: RunWorkspace.optional(),
  /** Set on runs an alert started; such runs are listed with every folder's runs. */
  source: RunSource.optional(),
  /** The model its agent asks for, where not the server's default (an alert project's \`model\`); set only by the server. */
  model: z.string().optional(),
  error: z.string().optional(),
  usage: TokenUsage.optional(),
  /** The network the run's sandbox was given (absent: none). */
  network: NetworkPolicy.optional(),
  /** What went through the egress proxy so far. */
  network_usage: NetworkUsage.optional(),
  last_seq: z.number().int(),
});
export type Run = z.infer<typeof Run>;

export const RunIdParams = z.object({ id: z.string().min(1).max(64) });

export const RunListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** Opaque cursor from a previous page's next_cursor. */
  cursor: z.string().max(200).optional(),
  /** Only the runs of this workspace folder (its URI, as given at creation), and the runs alerts started; all of them without it. */
  workspace: WorkspaceUri.optional(),
});
export type RunListQuery = z.infer<typeof RunListQuery>;
export const RunList = z.object({ runs: z.array(Run), next_cursor: z.string().optional() });

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
/** Which files a review wants whole: the snapshot's (base-files) or the agent's (proposed-files). */
export const FileContentsRequest = z.object({ paths: z.array(WorkspacePath).min(1).max(1000) }).strict();
/** Files whole, as the snapshot had them (the merge base) or as the agent left them. */
export const FileContents = z.object({
  files: z.array(
    z.object({
      path: z.string(),
      /** Absent when there is no regular file there. */
      content_base64: z.string().optional(),
    }),
  ),
  /** Paths left out to keep the answer small: ask again for them. */
  remaining: z.array(z.string()),
});
export type FileContents = z.infer<typeof FileContents>;

export const FollowUpRequest = z
  .object({
    message: z.string().max(200_000).optional(),
    /** For the command agent: another command in the same sandbox. */
    command: z.string().min(1).max(100_000).optional(),
    /**
     * The network of the run's sandbox from this turn on (to allow a host a turn was refused, say), bounded
     * by the server as at creation; only for a run whose sandbox was started with network.
     */
    network: NetworkPolicyRequest.optional(),
  })
  .strict()
  .refine((b) => b.message !== undefined || b.command !== undefined, 'send a message or a command');
export type FollowUpRequest = z.infer<typeof FollowUpRequest>;
