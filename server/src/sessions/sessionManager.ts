// Sessions: lifecycle, leases and the reaper, over any sandbox provider.
// Every access extends a session's lease by its own ttl; an expired session
// is destroyed with every process in it and answers SESSION_EXPIRED after.
// What a running session does (commands, files, network) is in its own
// modules (sessionExec, sessionFiles, sessionEgress); this one checks the
// session, keeps its lease, and ends it when its sandbox fails.
import type { CreateSessionRequest, SessionInfo, SessionStats } from '@astraforge/contract/sandboxApi';
import type { NetworkPolicy, NetworkPolicyRequest } from '@astraforge/contract/networkPolicy';
import { describePolicy } from '../egress/networkPolicy';
import type { EgressObserver } from '../egress/egressListener';
import type { EgressProxy } from '../egress/egressProxy';
import { AppError } from '../errors';
import { SandboxError } from '../sandboxes/sandboxError';
import type { Sandbox, SandboxAttachments, SandboxLimits, SandboxProvider } from '../sandboxes/sandboxProvider';
import { leaseEnd, sessionInfo, type LiveSession } from './liveSession';
import { QuotaWatcher } from './quotaWatcher';
import { mapSandboxError } from './sandboxErrorMapping';
import { boundSessionNetwork, changeSessionNetwork, narrowSessionNetwork, openSessionEgress } from './sessionEgress';
import { execInSession, type ExecOptions, type ExecOutcome } from './sessionExec';
import { readSessionFile, writeSessionFile, type SessionFile } from './sessionFiles';
import { newSessionId, newSessionRecord, provisionWorkspace, askedSize, sessionLimits } from './sessionProvisioning';
import type { SessionRecords, SessionRecord } from './sessionRecords';
import { restoreSession } from './sessionRestore';
import { UidAllocator } from './uidAllocator';
import { WorkspaceLayers, type LayeringSetting, type WorkspaceLayerSpec } from './workspaceLayers';
import type { WorkspaceStore } from './workspaceStore';

export interface SessionManagerOptions {
  /** Names this server among others on the host (uid leases, cgroups). */
  instanceId: string;
  provider: SandboxProvider;
  records: SessionRecords;
  workspaces: WorkspaceStore;
  limits: SandboxLimits;
  defaultTtlSeconds: number;
  defaultTimeoutMs: number;
  maxOutputBytes: number;
  maxSessions: number;
  /** How long ended sessions stay listed (and answer 410) before their records go. */
  tombstoneSeconds: number;
  /** The egress proxy, for sessions that ask for network; without it every session has none. */
  egress?: EgressProxy;
  log: (obj: Record<string, unknown>, msg: string) => void;
  /** How workspaces made of layers are assembled (auto: overlayfs if it mounts, else fuse-overlayfs, else a copy). */
  layering?: LayeringSetting;
}

export interface SessionExtras {
  /** The workspace as read-only layers under a writable one (a run's snapshot and environment), assembled before `seed`. */
  layers?: WorkspaceLayerSpec;
  seed?: (dir: string) => Promise<void>;
  attachments?: SandboxAttachments;
  /** Ends the session this long after its creation, however active it is. */
  maxLifetimeSeconds?: number;
  labels?: Record<string, unknown>;
  /** Tighter limits than the server's (never looser: they are capped). */
  limits?: Partial<Pick<SandboxLimits, 'memoryBytes' | 'cpus'>>;
  /** Who hears of the session's network traffic (a run's events and usage). */
  networkObserver?: EgressObserver;
}

export class SessionManager {
  private readonly sessions = new Map<string, LiveSession>();
  private readonly uids: UidAllocator;
  private reaper: NodeJS.Timeout | undefined;
  /** Workspaces made of layers (runs): overlay mounts, or copies where the host has no overlayfs. */
  readonly layers: WorkspaceLayers;

  constructor(private readonly opts: SessionManagerOptions) {
    this.uids = new UidAllocator(opts.instanceId);
    this.layers = new WorkspaceLayers(opts.workspaces.layersDir('sessions'), opts.layering);
  }

  /** A folder for shared read-only layers of one kind, where sandbox uids may pass but not list. */
  layerStoreDir(name: string): string {
    return this.opts.workspaces.layersDir(name);
  }

  /** Whether the provider can start `image` (bwrap ignores container images; Docker takes any it has). */
  acceptsImage(image: string): boolean {
    return this.opts.provider.acceptsAnyImage === true || this.opts.provider.images().includes(image);
  }

  /** Reconciles what a previous server process left, then starts the reaper. */
  async start(): Promise<void> {
    const records = this.opts.records.loadAll();
    // Only uids still leased to this server: another server on the host may have taken a stale one since.
    const leftoverUids = new Set<number>(records.map((r) => r.host_uid).filter((uid) => this.uids.ownedByThisServer(uid)));
    const restore = {
      save: (rec: SessionRecord) => this.opts.records.save(rec),
      log: (o: Record<string, unknown>, m: string) => this.opts.log(o, m),
    };
    for (const rec of records) this.sessions.set(rec.id, restoreSession(rec, restore));
    await this.opts.provider.cleanupLeftovers([...leftoverUids]);
    this.layers.cleanupLeftovers(this.opts.workspaces.scratchDir);
    for (const id of this.opts.workspaces.scratchIds()) this.opts.workspaces.removeScratch(id);
    const layering = await this.layers.describe();
    this.opts.log({ workspace_layers: layering.mode }, layering.note ?? `run workspaces are ${layering.mode} layers`);
    const persistent = new Set(this.opts.workspaces.persistentUids());
    for (const uid of persistent) this.uids.reservePersistent(uid);
    this.uids.releaseStale(persistent);
    this.reaper = setInterval(() => void this.reap(), 1000);
    this.reaper.unref();
  }

  async stop(): Promise<void> {
    if (this.reaper) clearInterval(this.reaper);
    await Promise.all([...this.sessions.values()].filter((s) => s.sandbox).map((s) => this.end(s, 'destroyed', 'the server stopped')));
    await this.layers.closeViews();
  }

  /**
   * Starts a session. A run passes `seed` to fill the workspace before the
   * sandbox starts, and `attachments` for what its agent needs.
   */
  async create(req: CreateSessionRequest, extras: SessionExtras = {}): Promise<SessionInfo> {
    const network = boundSessionNetwork(this.opts.egress, req.network);
    const image = req.image ?? this.opts.provider.images()[0];
    if (!this.opts.provider.acceptsAnyImage && !this.opts.provider.images().includes(image)) {
      throw new AppError('INVALID_IMAGE', `unknown image "${image}"`, { available: this.opts.provider.images() });
    }
    const liveCount = [...this.sessions.values()].filter((s) => s.record.status === 'running').length;
    if (liveCount >= this.opts.maxSessions) {
      throw new AppError('RESOURCE_EXHAUSTED', `the server runs at most ${this.opts.maxSessions} sessions at once`);
    }
    const id = newSessionId();
    const ttl = req.ttl_seconds ?? this.opts.defaultTtlSeconds;
    const { hostUid, workspaceDir } = await provisionWorkspace(
      { workspaces: this.opts.workspaces, uids: this.uids, layers: this.layers },
      id,
      req.workspace_id,
      extras,
    );
    const now = Date.now();
    const record = newSessionRecord(
      {
        id,
        image,
        req,
        ttlSeconds: ttl,
        workspaceDir,
        hostUid,
        maxLifetimeSeconds: extras.maxLifetimeSeconds,
        labels: extras.labels,
        network: describePolicy(network),
      },
      now,
    );
    // Recorded before the sandbox starts, so a crash in between still gets cleaned up.
    this.opts.records.save(record);
    const live: LiveSession = { record, expiresAt: leaseEnd(record, now), lastActivity: now, running: 0 };
    this.sessions.set(id, live);
    let attachments = extras.attachments;
    try {
      if (network.mode !== 'none') {
        const egress = await openSessionEgress(this.opts.egress!, id, network, hostUid, attachments, extras.networkObserver);
        live.egress = egress.listener;
        attachments = egress.attachments;
      }
      const limits = sessionLimits(this.opts.limits, extras.limits);
      live.sandbox = await this.opts.provider.create({
        sessionId: id,
        image,
        workspaceDir,
        hostUid,
        limits,
        askedSize: askedSize(limits, extras.limits),
        attachments,
      });
    } catch (e) {
      await live.egress?.close();
      this.sessions.delete(id);
      this.opts.records.remove(id);
      await this.releaseWorkspace(record);
      if (e instanceof SandboxError && e.kind === 'INVALID_IMAGE') throw new AppError('INVALID_IMAGE', e.message);
      throw new AppError('INTERNAL_ERROR', `cannot start the sandbox: ${(e as Error).message}`);
    }
    const sandbox = live.sandbox;
    void sandbox.exited.then(() => {
      if (live.record.status === 'running' && !live.ending) {
        void this.end(live, 'crashed', sandbox.failure?.message ?? 'the sandbox exited unexpectedly');
      }
    });
    live.quota = new QuotaWatcher({
      // Over layers, what the session wrote is its writable layer; the shared ones below are not its to pay for.
      workspaceDir: this.layers.writableLayerOf(workspaceDir) ?? workspaceDir,
      quotaBytes: this.opts.limits.diskQuotaBytes,
      enforce: (message) => sandbox.enforceQuota(message),
      log: (obj, msg) => this.opts.log({ session_id: id, ...obj }, msg),
    });
    live.quota.start();
    this.opts.log({ session_id: id, host_uid: hostUid, workspace_id: req.workspace_id }, 'session created');
    return this.info(live);
  }

  list(): SessionInfo[] {
    return [...this.sessions.values()].sort((a, b) => b.record.created_at.localeCompare(a.record.created_at)).map((s) => this.info(s));
  }

  get(id: string): SessionInfo {
    const live = this.access(id, { allowEnded: true });
    return this.info(live);
  }

  /** Throws SESSION_NOT_FOUND or SESSION_EXPIRED unless the session can be used; extends its lease. */
  assertUsable(id: string): void {
    this.access(id);
  }

  async stats(id: string): Promise<SessionStats> {
    const live = this.access(id);
    const u = await live.sandbox!.usage();
    return { memory_bytes: u.memoryBytes, memory_limit: u.memoryLimit, cpu_usage_usec: u.cpuUsageUsec };
  }

  async exec(id: string, cmd: string, opts: ExecOptions = {}): Promise<ExecOutcome> {
    const live = this.access(id);
    live.running++;
    try {
      return await execInSession(live, cmd, opts, { timeoutMs: this.opts.defaultTimeoutMs, maxOutputBytes: this.opts.maxOutputBytes });
    } catch (e) {
      throw this.sandboxFailure(e, live);
    } finally {
      live.running--;
      this.extend(live);
    }
  }

  async readFile(id: string, path: string, maxBytes: number): Promise<SessionFile> {
    return this.withSandbox(id, (sandbox) => readSessionFile(sandbox, path, maxBytes));
  }

  async writeFile(id: string, path: string, data: Buffer): Promise<string> {
    return this.withSandbox(id, (sandbox) => writeSessionFile(sandbox, path, (s, abs) => s.writeFile(abs, data)));
  }

  /** Writes the bytes of a host file (an upload spooled to disk), a chunk at a time. */
  async writeFileFromHost(id: string, path: string, hostFile: string): Promise<string> {
    return this.withSandbox(id, (sandbox) => writeSessionFile(sandbox, path, (s, abs) => s.writeFileFromHost(abs, hostFile)));
  }

  /** Runs `op` on a usable session's sandbox, its failures as the API's errors. */
  private async withSandbox<T>(id: string, op: (sandbox: Sandbox) => Promise<T>): Promise<T> {
    const live = this.access(id);
    try {
      return await op(live.sandbox!);
    } catch (e) {
      throw this.sandboxFailure(e, live);
    }
  }

  async destroy(id: string): Promise<void> {
    const live = this.sessions.get(id);
    if (!live) throw new AppError('SESSION_NOT_FOUND', `no session "${id}"`);
    if (live.record.status === 'running') await this.end(live, 'destroyed', 'destroyed by a client');
    this.sessions.delete(id);
    this.opts.records.remove(id);
  }

  /** The network policy a request would get here, as a run records it; INVALID_REQUEST when it asks for too much. */
  boundNetwork(req: NetworkPolicyRequest | undefined): NetworkPolicy {
    return describePolicy(boundSessionNetwork(this.opts.egress, req));
  }

  /** What the server allows of a policy from a workspace file (an environment's), and what it left out. */
  narrowNetwork(req: NetworkPolicyRequest | undefined): { request: NetworkPolicyRequest | undefined; dropped: string[] } {
    return narrowSessionNetwork(this.opts.egress, req);
  }

  /** A running session's network from now on; INVALID_REQUEST beyond the server's, or for a sandbox started without network. */
  changeNetwork(id: string, req: NetworkPolicyRequest): NetworkPolicy {
    const live = this.access(id);
    const policy = changeSessionNetwork(this.opts.egress, live.egress, req);
    // Kept with the record, so a restarted server reports the policy the session last had.
    live.record.network = describePolicy(policy);
    this.opts.records.save(live.record);
    this.opts.log({ session_id: id, network: describePolicy(policy) }, 'session network changed');
    return describePolicy(policy);
  }

  /** Persistent workspace ids in use by running sessions. */
  workspaceInUse(workspaceId: string): boolean {
    return this.workspaceSessionCounts(workspaceId).active > 0;
  }

  workspaceSessionCounts(workspaceId: string): { total: number; active: number } {
    const on = [...this.sessions.values()].filter((s) => s.record.workspace_id === workspaceId);
    return { total: on.length, active: on.filter((s) => s.record.status === 'running').length };
  }

  private access(id: string, o: { allowEnded?: boolean } = {}): LiveSession {
    const live = this.sessions.get(id);
    if (!live) throw new AppError('SESSION_NOT_FOUND', `no session "${id}"`);
    if (live.record.status !== 'running') {
      if (o.allowEnded) return live;
      throw new AppError('SESSION_EXPIRED', `session "${id}" has ended (${live.record.status}): ${live.record.ended_reason ?? ''}`.trim(), {
        status: live.record.status,
      });
    }
    if (Date.now() > live.expiresAt && live.running === 0) {
      void this.end(live, 'expired', 'its lease ran out');
      throw new AppError('SESSION_EXPIRED', `session "${id}" has expired`);
    }
    this.extend(live);
    return live;
  }

  private extend(live: LiveSession): void {
    if (live.record.status !== 'running') return;
    live.lastActivity = Date.now();
    live.expiresAt = leaseEnd(live.record, live.lastActivity);
  }

  /** What a client attached to a session when it created it. */
  labelsOf(id: string): Record<string, unknown> | undefined {
    return this.sessions.get(id)?.record.labels;
  }

  private info(live: LiveSession): SessionInfo {
    return sessionInfo(live, this.opts.provider.name);
  }

  /** The API's error for a sandbox's failure; one that leaves the sandbox gone or untrusted ends the session. */
  private sandboxFailure(e: unknown, live: LiveSession): Error {
    const { error, endsSession } = mapSandboxError(e);
    if (endsSession !== undefined && live.record.status === 'running') void this.end(live, 'crashed', endsSession);
    return error;
  }

  private async reap(): Promise<void> {
    const now = Date.now();
    for (const live of this.sessions.values()) {
      if (live.record.status === 'running' && !live.ending && live.running === 0 && now > live.expiresAt) {
        await this.end(live, 'expired', 'its lease ran out');
      } else if (live.record.status !== 'running' && now > live.expiresAt + this.opts.tombstoneSeconds * 1000) {
        this.sessions.delete(live.record.id);
        this.opts.records.remove(live.record.id);
      }
    }
  }

  private end(live: LiveSession, status: SessionRecord['status'], reason: string): Promise<void> {
    if (live.ending) return live.ending;
    live.ending = (async () => {
      live.record.status = status;
      live.record.ended_reason = reason;
      live.expiresAt = Math.min(live.expiresAt, Date.now());
      live.record.expires_at = new Date(live.expiresAt).toISOString();
      this.opts.records.save(live.record);
      live.quota?.stop();
      await live.sandbox?.destroy().catch(() => undefined);
      live.sandbox = undefined;
      if (live.egress) {
        live.networkAtEnd = live.egress.info();
        await live.egress.close();
        live.egress = undefined;
      }
      await this.releaseWorkspace(live.record);
      this.opts.log({ session_id: live.record.id, status, reason }, 'session ended');
    })();
    return live.ending;
  }

  private async releaseWorkspace(rec: SessionRecord): Promise<void> {
    if (rec.workspace_id) return; // persistent: it keeps its folder and its uid
    await this.layers.disassemble(rec.workspace_dir).catch((e: Error) => {
      this.opts.log({ session_id: rec.id, err: e.message }, 'cannot take the workspace layers apart');
    });
    this.opts.workspaces.removeScratch(rec.id);
    this.uids.release(rec.host_uid);
  }
}
