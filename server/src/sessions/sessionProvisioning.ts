// What a new session is given before its sandbox starts: an id, a host uid
// and a workspace folder (a persistent workspace's, or a scratch one filled
// from layers and a seed), its record, and its limits (the server's, or
// tighter). Whatever a failed step allocated is given back before it throws.
import { randomBytes } from 'node:crypto';
import type { NetworkPolicy } from '@astraforge/contract/networkPolicy';
import type { CreateSessionRequest } from '@astraforge/contract/sandboxApi';
import { AppError } from '../errors';
import type { SandboxLimits } from '../sandboxes/sandboxProvider';
import { leaseEnd } from './liveSession';
import type { SessionRecord } from './sessionRecords';
import type { UidAllocator } from './uidAllocator';
import { WORKSPACE_ROOT } from './workspacePaths';
import type { WorkspaceLayers, WorkspaceLayerSpec } from './workspaceLayers';
import type { WorkspaceStore } from './workspaceStore';

/** A short id of lowercase letters and digits (it names folders, cgroups and containers). */
export function newSessionId(): string {
  return randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').toLowerCase();
}

export interface WorkspaceProvisioning {
  workspaces: WorkspaceStore;
  uids: UidAllocator;
  layers: WorkspaceLayers;
}

export interface WorkspaceContents {
  layers?: WorkspaceLayerSpec;
  seed?: (dir: string) => Promise<void>;
}

/** The session's uid and /workspace folder, its layers assembled and its seed run (INTERNAL_ERROR if they fail). */
export async function provisionWorkspace(
  p: WorkspaceProvisioning,
  sessionId: string,
  workspaceId: string | undefined,
  contents: WorkspaceContents,
): Promise<{ hostUid: number; workspaceDir: string }> {
  let hostUid: number;
  let workspaceDir: string;
  if (workspaceId) {
    const ws = p.workspaces.openPersistent(workspaceId, () => p.uids.allocate({ persistent: true }));
    hostUid = ws.host_uid;
    workspaceDir = ws.dir;
  } else {
    hostUid = p.uids.allocate({ persistent: false });
    workspaceDir = p.workspaces.createScratch(sessionId, hostUid);
  }
  const { seed, layers } = contents;
  if (seed || layers) {
    try {
      const mode = layers ? await p.layers.assemble(sessionId, workspaceDir, hostUid, layers) : 'copy';
      await seed?.(workspaceDir);
      // An overlay's lower files stay root's (writable by everyone): a chown would copy every one of them up.
      if (mode === 'copy') await p.workspaces.handOver(workspaceDir, hostUid);
    } catch (e) {
      await p.layers.disassemble(workspaceDir).catch(() => undefined);
      p.workspaces.removeScratch(sessionId);
      p.uids.release(hostUid);
      throw new AppError('INTERNAL_ERROR', `cannot copy the snapshot into the sandbox: ${(e as Error).message}`);
    }
  }
  return { hostUid, workspaceDir };
}

export interface NewRecordFields {
  id: string;
  image: string;
  req: CreateSessionRequest;
  ttlSeconds: number;
  workspaceDir: string;
  hostUid: number;
  maxLifetimeSeconds?: number;
  labels?: Record<string, unknown>;
  /** The session's egress policy, kept so a restarted server can still report it; none is left out. */
  network: NetworkPolicy;
}

/** A running session's first record, its lease starting at `now`. */
export function newSessionRecord(f: NewRecordFields, now: number): SessionRecord {
  const record: SessionRecord = {
    id: f.id,
    image: f.image,
    status: 'running',
    workspace_id: f.req.workspace_id,
    workspace_dir: f.workspaceDir,
    host_uid: f.hostUid,
    ttl_seconds: f.ttlSeconds,
    created_at: new Date(now).toISOString(),
    expires_at: new Date(now + f.ttlSeconds * 1000).toISOString(),
    cwd: WORKSPACE_ROOT,
    max_lifetime_seconds: f.maxLifetimeSeconds,
    labels: f.labels,
    ...(f.network.mode !== 'none' ? { network: f.network } : {}),
  };
  if (f.maxLifetimeSeconds) record.expires_at = new Date(leaseEnd(record, now)).toISOString();
  return record;
}

/** The server's limits, with memory and cpus lowered to what the session asked for (never raised). */
export function sessionLimits(
  server: SandboxLimits,
  asked: Partial<Pick<SandboxLimits, 'memoryBytes' | 'cpus'>> | undefined,
): SandboxLimits {
  return {
    ...server,
    memoryBytes: Math.min(server.memoryBytes, asked?.memoryBytes ?? Infinity),
    cpus: Math.min(server.cpus, asked?.cpus ?? Infinity),
  };
}

/** The dimensions the session asked about, at the values `limits` (sessionLimits) gives them; undefined when it asked none. */
export function askedSize(
  limits: SandboxLimits,
  asked: Partial<Pick<SandboxLimits, 'memoryBytes' | 'cpus'>> | undefined,
): Partial<Pick<SandboxLimits, 'memoryBytes' | 'cpus'>> | undefined {
  if (asked?.memoryBytes === undefined && asked?.cpus === undefined) return undefined;
  return {
    ...(asked.memoryBytes !== undefined ? { memoryBytes: limits.memoryBytes } : {}),
    ...(asked.cpus !== undefined ? { cpus: limits.cpus } : {}),
  };
}
