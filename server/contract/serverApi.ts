// The server's own lifecycle over the API: what it is (version and build,
// so a newer extension knows to replace it), whether it is busy, and a way
// to stop it now or once its runs are done. One server serves every VS Code
// window of a user; these let windows share it without killing each other's runs.
import { z } from 'zod';

export const ServerInfo = z.object({
  /** The package version of the server's bundle. */
  version: z.string(),
  /** Identifies this exact bundle (its path and build time): a rebuilt or reinstalled extension differs. */
  build: z.string(),
  pid: z.number().int(),
  started_at: z.string(),
  /** Runs queued, provisioning or running now. */
  active_runs: z.number().int().min(0),
  /** Requests and event streams open now (the caller's own included). */
  open_requests: z.number().int().min(0),
  /** The server exits after this long with no active run and no request; 0 never. */
  idle_exit_seconds: z.number().min(0),
  /** Set once a stop was asked for. */
  stopping: z.enum(['now', 'idle']).optional(),
});
export type ServerInfo = z.infer<typeof ServerInfo>;

export const ShutdownRequest = z.object({
  /** `now`: cancel what runs (it comes back `interrupted`) and exit; `idle`: take no new run, exit when the active ones end. */
  when: z.enum(['now', 'idle']).default('now'),
});
export type ShutdownRequest = z.infer<typeof ShutdownRequest>;

export const ShutdownResult = z.object({
  when: z.enum(['now', 'idle']),
  active_runs: z.number().int().min(0),
});
export type ShutdownResult = z.infer<typeof ShutdownResult>;

/** The record a running server keeps in its data folder, so any window of the same user finds it. */
export const ServerRecord = z.object({
  pid: z.number().int().positive(),
  url: z.string().url(),
  version: z.string(),
  build: z.string(),
  started_at: z.string(),
  /** The file that holds the API key (0600, the user's own). */
  api_key_file: z.string(),
  log_file: z.string().optional(),
});
export type ServerRecord = z.infer<typeof ServerRecord>;

export const SERVER_RECORD_FILE = 'server.json';
