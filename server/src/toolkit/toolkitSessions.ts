// The toolkit API's sandbox sessions, with upstream's lifecycle over the
// server's own sessions. A toolkit session outlives its sandboxes: its files
// live in a persistent workspace of its own (toolkit-<id>), a server session
// backs it while it is ready, stop ends that session and keeps the files, and
// the next call that needs a sandbox (shell, upload, a message, a create with
// its id) starts a new one on the same files, as upstream restarts a stopped
// session from its auto-stop snapshot. DELETE stops it too; deleting a stopped
// session forgets it with its files, snapshots and artifacts, and stopped
// sessions nobody deletes are forgotten after the retention period.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { ToolkitSession, ToolkitSessionRequest } from '@astraforge/contract/toolkitApi';
import { AppError } from '../errors';
import type { SessionManager } from '../sessions/sessionManager';
import type { WorkspaceStore } from '../sessions/workspaceStore';
import { ArtifactStore } from './artifactStore';
import { JsonRecords } from './jsonRecords';
import { parseCpu, parseMemory } from './quantities';
import { DEFAULT_IDLE_TIMEOUT_SEC, DEFAULT_MAX_LIFETIME_SEC, newToolkitRecord, ToolkitRecord } from './toolkitSessionRecord';
import { toolkitSessionView } from './toolkitSessionView';
import { WorkspaceSnapshots } from './workspaceSnapshots';

const DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600;
const SWEEP_INTERVAL_MS = 60_000;

export interface ToolkitSessionsOptions {
  workspaces: WorkspaceStore;
  /** <data-dir>/toolkit: session records, snapshots, artifacts. */
  dataDir: string;
  /** Stopped sessions are forgotten (files, snapshots, artifacts) this long after they stopped. */
  retentionSeconds?: number;
  /** The largest snapshot archive. */
  maxSnapshotBytes?: number;
}

export class ToolkitSessions {
  private readonly records: JsonRecords<typeof ToolkitRecord>;
  private readonly all = new Map<string, ToolkitRecord>();
  /** Starts in flight, so that two calls on a stopped session start one sandbox. */
  private readonly starting = new Map<string, Promise<string>>();
  readonly artifacts: ArtifactStore;
  readonly snapshots: WorkspaceSnapshots;
  private readonly workspaces: WorkspaceStore;
  private readonly retentionMs: number;

  constructor(
    /** The server's sessions, one of which backs each ready toolkit session. */
    readonly sessions: SessionManager,
    private readonly mode: string,
    opts: ToolkitSessionsOptions,
  ) {
    this.workspaces = opts.workspaces;
    this.records = new JsonRecords(join(opts.dataDir, 'sessions'), ToolkitRecord);
    for (const rec of this.records.loadAll()) this.all.set(rec.id, rec);
    this.artifacts = new ArtifactStore(join(opts.dataDir, 'artifacts'));
    this.snapshots = new WorkspaceSnapshots(join(opts.dataDir, 'snapshots'), opts.maxSnapshotBytes ?? 4 * 1024 ** 3);
    this.retentionMs = (opts.retentionSeconds ?? DEFAULT_RETENTION_SECONDS) * 1000;
    setInterval(() => this.forgetExpired(), SWEEP_INTERVAL_MS).unref();
  }

  /** A new session (201), or the existing one with that id, started again if it was stopped (200). */
  async create(req: ToolkitSessionRequest): Promise<{ session: ToolkitSession; created: boolean }> {
    const restore = req.restore_snapshot_id ?? undefined;
    if (restore && !this.snapshots.get(restore)) throw new AppError('SESSION_NOT_FOUND', 'Snapshot not found');
    const existing = req.id ? this.all.get(req.id) : undefined;
    if (existing) {
      this.refresh(existing);
      if (restore) await this.stopBacking(existing, 'terminated');
      if (existing.status !== 'ready') await this.ensureReady(existing.id, restore);
      return { session: this.view(existing), created: false };
    }
    const idle = req.idle_timeout_sec ?? DEFAULT_IDLE_TIMEOUT_SEC;
    const lifetime = req.max_lifetime_sec ?? DEFAULT_MAX_LIFETIME_SEC;
    if (idle > lifetime) throw new AppError('INVALID_REQUEST', 'idle_timeout_sec cannot exceed max_lifetime_sec');
    // Checked before anything is kept, so a bad quantity leaves nothing behind.
    if (req.memory !== undefined) parseMemory(req.memory);
    if (req.cpu !== undefined) parseCpu(req.cpu);
    this.sessions.boundNetwork(req.network);
    const rec = newToolkitRecord(req, { mode: this.mode, idle, lifetime, restore });
    const start = this.startBacking(rec, restore, (backingId) => {
      rec.id ||= this.all.has(backingId) ? randomUUID() : backingId;
      this.all.set(rec.id, rec);
    });
    // A chosen id is taken at once: a second create with it waits for this start instead of making another.
    if (req.id) {
      this.all.set(req.id, rec);
      this.starting.set(req.id, start);
    }
    try {
      await start;
    } catch (e) {
      if (req.id) this.all.delete(req.id);
      this.workspaces.delete(rec.workspace_id);
      throw e;
    } finally {
      if (req.id) this.starting.delete(req.id);
    }
    return { session: this.view(rec), created: true };
  }

  list(): ToolkitSession[] {
    return [...this.all.values()]
      .map((rec) => (this.refresh(rec), this.view(rec)))
      .sort((a, b) => b.created_at.localeCompare(a.created_at));
  }

  get(id: string): ToolkitSession {
    const rec = this.record(id);
    this.refresh(rec);
    return this.view(rec);
  }

  /** Ends the sandbox; the files stay for the next start. */
  async stop(id: string): Promise<void> {
    const rec = this.record(id);
    await this.stopBacking(rec, 'terminated');
    // Upstream's auto-stop snapshot becomes the one to restore; here the files stay in place instead.
    delete rec.metadata.latest_snapshot_id;
    this.save(rec);
  }

  /** Stops a ready session; forgets a stopped one with everything it kept. */
  async delete(id: string): Promise<void> {
    const rec = this.record(id);
    await this.starting.get(id)?.catch(() => undefined);
    this.refresh(rec);
    if (rec.status === 'ready') return this.stop(id);
    this.forget(rec);
  }

  heartbeat(id: string): { status: string; last_heartbeat_at: string } {
    const rec = this.record(id);
    this.refresh(rec);
    if (rec.status === 'ready') this.sessions.assertUsable(rec.backing_id!);
    rec.last_heartbeat_at = new Date().toISOString();
    this.save(rec);
    return { status: rec.status, last_heartbeat_at: rec.last_heartbeat_at };
  }

  /** Throws SESSION_NOT_FOUND unless the toolkit session exists. */
  assertExists(id: string): void {
    this.record(id);
  }

  /**
   * The server session backing a toolkit session, started (on the session's
   * files, or a snapshot's) if it was stopped, as upstream provisions a
   * session that is not ready on any call that needs its sandbox.
   */
  async ensureReady(id: string, restoreSnapshot?: string): Promise<string> {
    const rec = this.record(id);
    this.refresh(rec);
    if (rec.status === 'ready' && !restoreSnapshot) {
      rec.last_heartbeat_at = new Date().toISOString();
      return rec.backing_id!;
    }
    const pending = this.starting.get(id);
    if (pending) return pending;
    const start = this.startBacking(rec, restoreSnapshot).finally(() => this.starting.delete(id));
    this.starting.set(id, start);
    return start;
  }

  /** The host folder and uid of a session's files (for snapshots). */
  workspaceOf(id: string): { dir: string; uid: number } {
    return this.workspaceFor(this.record(id));
  }

  /** Notes the newest snapshot in the metadata, as upstream does. */
  recordSnapshot(id: string, snapshotId: string): void {
    const rec = this.record(id);
    rec.metadata.latest_snapshot_id = snapshotId;
    this.save(rec);
  }

  private async startBacking(
    rec: ToolkitRecord,
    restoreSnapshot: string | undefined,
    started?: (backingId: string) => void,
  ): Promise<string> {
    const info = await this.sessions.create(
      { image: rec.image, ttl_seconds: rec.idle_timeout_sec, workspace_id: rec.workspace_id, network: rec.network },
      {
        maxLifetimeSeconds: rec.max_lifetime_sec,
        limits: {
          memoryBytes: rec.memory !== null ? parseMemory(rec.memory) : undefined,
          cpus: rec.cpu !== null ? parseCpu(rec.cpu) : undefined,
        },
        labels: { toolkit_session: rec.id },
        seed: restoreSnapshot
          ? (dir) => this.snapshots.restoreInto(restoreSnapshot, { workspaceDir: dir, uid: this.workspaceFor(rec).uid })
          : undefined,
      },
    );
    started?.(info.id);
    rec.image = info.image;
    rec.backing_id = info.id;
    rec.status = 'ready';
    rec.error_message = '';
    rec.last_heartbeat_at = new Date().toISOString();
    delete rec.ended_at;
    if (restoreSnapshot) rec.restore_snapshot_id = restoreSnapshot;
    this.save(rec);
    return info.id;
  }

  private async stopBacking(rec: ToolkitRecord, status: 'terminated' | 'failed'): Promise<void> {
    const backing = rec.backing_id;
    if (backing) {
      await this.sessions.destroy(backing).catch((e: unknown) => {
        if (!(e instanceof AppError && e.code === 'SESSION_NOT_FOUND')) throw e;
      });
    }
    if (rec.status === 'ready') this.markEnded(rec, status, '');
  }

  /** Follows the backing session: one that ended on its own (idle timeout, lifetime, crash) leaves the toolkit session stopped. */
  private refresh(rec: ToolkitRecord): void {
    if (rec.status !== 'ready' || !rec.backing_id) return;
    let status: string;
    try {
      status = this.sessions.get(rec.backing_id).status;
    } catch {
      status = 'destroyed';
    }
    if (status === 'running') return;
    if (status === 'crashed') this.markEnded(rec, 'failed', 'the sandbox ended unexpectedly (it crashed, or the server restarted)');
    else this.markEnded(rec, 'terminated', '');
  }

  private markEnded(rec: ToolkitRecord, status: 'terminated' | 'failed', error: string): void {
    rec.status = status;
    rec.error_message = error;
    rec.backing_id = undefined;
    rec.ended_at = new Date().toISOString();
    this.save(rec);
  }

  private workspaceFor(rec: ToolkitRecord): { dir: string; uid: number } {
    const ws = this.workspaces.get(rec.workspace_id);
    if (!ws) throw new AppError('SESSION_EXPIRED', `the files of session "${rec.id}" are gone`);
    return { dir: this.workspaces.folderOf(rec.workspace_id), uid: ws.host_uid };
  }

  private forget(rec: ToolkitRecord): void {
    this.workspaces.delete(rec.workspace_id);
    this.snapshots.removeFor(rec.id);
    this.artifacts.removeFor(rec.id);
    this.records.remove(rec.id);
    this.all.delete(rec.id);
  }

  private forgetExpired(): void {
    const now = Date.now();
    for (const rec of this.all.values()) {
      this.refresh(rec);
      if (rec.status !== 'ready' && rec.ended_at && now - Date.parse(rec.ended_at) > this.retentionMs && !this.starting.has(rec.id)) {
        this.forget(rec);
      }
    }
  }

  private record(id: string): ToolkitRecord {
    const rec = this.all.get(id);
    if (!rec) throw new AppError('SESSION_NOT_FOUND', `no sandbox session "${id}"`);
    return rec;
  }

  private save(rec: ToolkitRecord): void {
    rec.updated_at = new Date().toISOString();
    this.records.save(rec);
  }

  private view(rec: ToolkitRecord): ToolkitSession {
    const backing = rec.status === 'ready' && rec.backing_id ? this.sessions.get(rec.backing_id) : undefined;
    return toolkitSessionView(rec, backing, {
      mode: this.mode,
      snapshotIds: this.snapshots.listFor(rec.id).map((s) => s.id),
      artifactsCount: this.artifacts.listFor(rec.id).length,
    });
  }
}
