// Sandkasten's workspace file routes (/v1/workspaces/{id}/fs...): files of a
// persistent workspace, with no session of the client's own.
import { z } from 'zod';

export const WorkspaceListQuery = z.object({
  /** A folder inside /workspace (the workspace's root by default). */
  path: z.string().min(1).max(4096).default('.'),
});

export const WorkspaceEntry = z.object({ name: z.string(), is_dir: z.boolean() });

export const WorkspaceEntries = z.object({
  entries: z.array(WorkspaceEntry),
  /** Set when the folder held more entries than one answer carries. */
  truncated: z.boolean().optional(),
});
