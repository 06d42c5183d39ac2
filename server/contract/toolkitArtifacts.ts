// The toolkit API's artifacts (files exported out of a sandbox, kept by the
// server and downloadable) and snapshots (a session's workspace archived, to
// start a session from later): upstream's SandboxArtifactSerializer and
// SandboxSnapshotSerializer, field for field.
import { z } from 'zod';

const isoTime = z.string().describe('RFC 3339 timestamp');

export const ArtifactExportRequest = z.object({
  path: z.string().min(1).max(4096),
  filename: z.string().max(255).optional(),
  content_type: z.string().max(100).optional(),
});

export const Artifact = z.object({
  id: z.string(),
  filename: z.string(),
  content_type: z.string(),
  size_bytes: z.number().int(),
  /** The same as size_bytes, under the name some clients read. */
  size: z.number().int(),
  /** The file's path in the sandbox when it was exported. */
  storage_path: z.string(),
  /** Serves the bytes, with the same API key as every other call. */
  download_url: z.string(),
  created_at: isoTime,
});
export type Artifact = z.infer<typeof Artifact>;

export const ArtifactList = z.object({ session_id: z.string(), artifacts: z.array(Artifact) });

export const ArtifactParams = z.object({ id: z.string().min(1).max(128), artifactId: z.string().min(1).max(128) });

export const SnapshotCreateRequest = z.object({
  label: z.string().max(255).optional(),
  /** Folders or files under /workspace to archive (the whole workspace by default). */
  include_paths: z.array(z.string().min(1).max(4096)).max(1000).optional(),
  /** tar --exclude patterns. */
  exclude_paths: z.array(z.string().min(1).max(4096)).max(1000).optional(),
});

export const Snapshot = z.object({
  id: z.string(),
  label: z.string(),
  /** Object storage is not used: always "". */
  s3_key: z.string(),
  archive_path: z.string(),
  size_bytes: z.number().int(),
  include_paths: z.array(z.string()),
  exclude_paths: z.array(z.string()),
  created_at: isoTime,
});
export type Snapshot = z.infer<typeof Snapshot>;

export const SnapshotList = z.object({ session_id: z.string(), snapshots: z.array(Snapshot) });
