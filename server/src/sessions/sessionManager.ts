// Sessions: lifecycle, leases and the reaper, over any sandbox provider.
// Every access extends a session's lease by its own ttl; an expired session
// is destroyed with every process in it and answers SESSION_EXPIRED after.
import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type { CreateSessionRequest, SessionInfo, SessionStats } from '@astraforge/contract/sandboxApi';
import type { NetworkPolicy, NetworkPolicyRequest, SessionNetwork } from '@astraforge/contract/networkPolicy';
import { describePolicy } from '../egress/networkPolicy';
import type { EgressListener, EgressObserver } from '../egress/egressListener';
import type { EgressProxy } from '../egress/egressProxy';
import { AppError } from '../errors';
import { SandboxError } from '../sandboxes/sandboxError';
import type { Sandbox, SandboxAttachments, SandboxLimits, SandboxProvider } from '../sandboxes/sandboxProvider';
import { QuotaWatcher } from './quotaWatcher';
import { boundSessionNetwork, noNetworkInfo, openSessionEgress } from './sessionEgress';
import { SessionFileNotFound } from './sessionErrors';
import { SessionRecords, type SessionRecord } from './sessionRecords';
import { UidAllocator } from './uidAllocator';
import { requestedWorkspacePath, WORKSPACE_ROOT } from './workspacePaths';
import { WorkspaceLayers, type LayeringSetting, type WorkspaceLayerSpec } from './workspaceLayers';
import { WorkspaceStore } from './workspaceStore';

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

export interface ExecOptions {
  timeoutMs?: number;
  separateStderr?: boolean;
  /** Overrides the server's output cap, for internal commands whose output is data (a diff). */
  maxOutputBytes?: number;
  onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
  signal?: AbortSignal;
}

export interface ExecOutcome {
  exitCode: number;
  cwd: string;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  notice?: string;
}

interface Live {
  record: SessionRecord;
  sandbox?: Sandbox;
  quota?: QuotaWatcher;
  expiresAt: number;
  lastActivity: number;
  running: number;
  ending?: Promise<void>;
  egress?: EgressListener;
  /** The network as it was when the session ended. */
  networkAtEnd?: SessionNetwork;
}

export class SessionManager {
  private readonly sessions = new Map<string, Live>();
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
    for (const rec of records) {
      if (rec.status === 'running') {
        rec.status = 'crashed';
        rec.ended_reason = 'the server stopped while this session was running; its processes are gone';
        this.opts.records.save(rec);
        this.opts.log({ session_id: rec.id }, 'session reconciled as crashed after restart');
      }
      this.sessions.set(rec.id, {
        record: rec,
        expiresAt: Date.parse(rec.expires_at),
        lastActivity: Date.parse(rec.expires_at),
        running: 0,
      });
    }
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
  }

  /**
   * Starts a session. A run passes `seed` to fill the workspace before the
   * sandbox starts, and `attachments` for what its agent needs.
   */
  async create(req: CreateSessionRequest, extras: SessionExtras = {}): Promise<SessionInfo> {
    const { seed } = extras;
    const network = boundSessionNetwork(this.opts.egress, req.network);
    const image = req.image ?? this.opts.provider.images()[0];
    if (!this.opts.provider.acceptsAnyImage && !this.opts.provider.images().includes(image)) {
      throw new AppError('INVALID_IMAGE', `unknown image "${image}"`, { available: this.opts.provider.images() });
    }
    const liveCount = [...this.sessions.values()].filter((s) => s.record.status === 'running').length;
    if (liveCount >= this.opts.maxSessions) {
      throw new AppError('RESOURCE_EXHAUSTED', `the server runs at most ${this.opts.maxSessions} sessions at once`);
    }
    const id = randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').toLowerCase();
    const ttl = req.ttl_seconds ?? this.opts.defaultTtlSeconds;
    let hostUid: number;
    let workspaceDir: string;
    if (req.workspace_id) {
      const ws = this.opts.workspaces.openPersistent(req.workspace_id, () => this.uids.allocate({ persistent: true }));
      hostUid = ws.host_uid;
      workspaceDir = ws.dir;
    } else {
      hostUid = this.uids.allocate({ persistent: false });
      workspaceDir = this.opts.workspaces.createScratch(id, hostUid);
    }
    if (seed || extras.layers) {
      try {
        const mode = extras.layers ? await this.layers.assemble(id, workspaceDir, hostUid, extras.layers) : 'copy';
        await seed?.(workspaceDir);
        // An overlay's lower files stay root's (writable by everyone): a chown would copy every one of them up.
        if (mode === 'copy') await this.opts.workspaces.handOver(workspaceDir, hostUid);
      } catch (e) {
        await this.layers.disassemble(workspaceDir).catch(() => undefined);
        this.opts.workspaces.removeScratch(id);
        this.uids.release(hostUid);
        throw new AppError('INTERNAL_ERROR', `cannot copy the snapshot into the sandbox: ${(e as Error).message}`);
      }
    }
    const now = Date.now();
    const record: SessionRecord = {
      id,
      image,
      status: 'running',
      workspace_id: req.workspace_id,
      workspace_dir: workspaceDir,
      host_uid: hostUid,
      ttl_seconds: ttl,
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + ttl * 1000).toISOString(),
      cwd: WORKSPACE_ROOT,
      max_lifetime_seconds: extras.maxLifetimeSeconds,
      labels: extras.labels,
    };
    if (extras.maxLifetimeSeconds) record.expires_at = new Date(this.leaseEnd(record, now)).toISOString();
    // Recorded before the sandbox starts, so a crash in between still gets cleaned up.
    this.opts.records.save(record);
    const live: Live = { record, expiresAt: this.leaseEnd(record, now), lastActivity: now, running: 0 };
    this.sessions.set(id, live);
    let attachments = extras.attachments;
    try {
      if (network.mode !== 'none') {
        const egress = await openSessionEgress(this.opts.egress!, id, network, hostUid, attachments, extras.networkObserver);
        live.egress = egress.listener;
        attachments = egress.attachments;
      }
      live.sandbox = await this.opts.provider.create({
        sessionId: id,
        image,
        workspaceDir,
        hostUid,
        limits: {
          ...this.opts.limits,
          memoryBytes: Math.min(this.opts.limits.memoryBytes, extras.limits?.memoryBytes ?? Infinity),
          cpus: Math.min(this.opts.limits.cpus, extras.limits?.cpus ?? Infinity),
        },
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
    const sandbox = live.sandbox!;
    const started = performance.now();
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    const text = { stdout: '', stderr: '' };
    const onOutput = (stream: 'stdout' | 'stderr', chunk: Buffer) => {
      const s = decoders[stream].write(chunk);
      if (!s) return;
      text[stream] += s;
      opts.onOutput?.(stream, s);
    };
    live.running++;
    const run = sandbox.exec(cmd, {
      timeoutMs: opts.timeoutMs ?? this.opts.defaultTimeoutMs,
      separateStderr: opts.separateStderr ?? false,
      maxOutputBytes: opts.maxOutputBytes ?? this.opts.maxOutputBytes,
      onOutput,
    });
    const abort = () => sandbox.kill(run.id);
    opts.signal?.addEventListener('abort', abort, { once: true });
    try {
      const r = await run.result;
      for (const stream of ['stdout', 'stderr'] as const) {
        const tail = decoders[stream].end();
        if (tail) {
          text[stream] += tail;
          opts.onOutput?.(stream, tail);
        }
      }
      if (!r.timedOut && !r.killed) live.record.cwd = r.cwd;
      return {
        exitCode: r.exitCode,
        cwd: r.cwd,
        stdout: text.stdout,
        stderr: text.stderr,
        truncated: r.truncated,
        timedOut: r.timedOut,
        cancelled: r.killed,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
        notice: r.quotaExceeded
          ? (live.quota?.lastMessage ?? "the workspace disk quota was exceeded; the session's processes were killed")
          : undefined,
      };
    } catch (e) {
      throw this.mapSandboxError(e, live);
    } finally {
      opts.signal?.removeEventListener('abort', abort);
      live.running--;
      this.extend(live);
    }
  }

  async readFile(id: string, path: string, maxBytes: number): Promise<{ path: string; content: Buffer; truncated: boolean }> {
    const live = this.access(id);
    const abs = requestedWorkspacePath(path);
    try {
      const r = await live.sandbox!.readFile(abs, maxBytes);
      return { path: abs, ...r };
    } catch (e) {
      throw this.mapSandboxError(e, live);
    }
  }

  async writeFile(id: string, path: string, data: Buffer): Promise<string> {
    return this.writeWith(id, path, (sandbox, abs) => sandbox.writeFile(abs, data));
  }

  /** Writes the bytes of a host file (an upload spooled to disk), a chunk at a time. */
  async writeFileFromHost(id: string, path: string, hostFile: string): Promise<string> {
    return this.writeWith(id, path, (sandbox, abs) => sandbox.writeFileFromHost(abs, hostFile));
  }

  private async writeWith(id: string, path: string, write: (sandbox: Sandbox, abs: string) => Promise<void>): Promise<string> {
    const live = this.access(id);
    const abs = requestedWorkspacePath(path);
    if (abs === WORKSPACE_ROOT) throw new AppError('INVALID_REQUEST', 'cannot write to /workspace itself: name a file');
    try {
      await write(live.sandbox!, abs);
      return abs;
    } catch (e) {
      throw this.mapSandboxError(e, live);
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

  /**
   * What the server allows of a policy from a workspace file (an
   * environment's), the entries beyond it left out and named: a repository
   * cannot widen its own egress, nor fail its runs by asking.
   */
  narrowNetwork(req: NetworkPolicyRequest | undefined): { request: NetworkPolicyRequest | undefined; dropped: string[] } {
    if (!req || req.mode === 'none') return { request: req, dropped: [] };
    if (!this.opts.egress)
      return { request: undefined, dropped: req.mode === 'open' ? ['mode:open'] : (req.allow ?? ["(the server's list)"]) };
    return this.opts.egress.narrow(req);
  }

  /** A running session's network from now on; INVALID_REQUEST beyond the server's, or for a sandbox started without network. */
  changeNetwork(id: string, req: NetworkPolicyRequest): NetworkPolicy {
    const live = this.access(id);
    const policy = boundSessionNetwork(this.opts.egress, req);
    if (!live.egress)
      throw new AppError(
        'INVALID_REQUEST',
        'network: this sandbox was started without network (no proxy, no relay); start a new run with it',
      );
    live.egress.setPolicy(policy);
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

  private access(id: string, o: { allowEnded?: boolean } = {}): Live {
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

  private extend(live: Live): void {
    if (live.record.status !== 'running') return;
    live.lastActivity = Date.now();
    live.expiresAt = this.leaseEnd(live.record, live.lastActivity);
  }

  /** The lease after activity at `now`: the session's own ttl, within its lifetime if it has one. */
  private leaseEnd(record: SessionRecord, now: number): number {
    const lease = now + record.ttl_seconds * 1000;
    if (!record.max_lifetime_seconds) return lease;
    return Math.min(lease, Date.parse(record.created_at) + record.max_lifetime_seconds * 1000);
  }

  /** What a client attached to a session when it created it. */
  labelsOf(id: string): Record<string, unknown> | undefined {
    return this.sessions.get(id)?.record.labels;
  }

  private info(live: Live): SessionInfo {
    const r = live.record;
    return {
      id: r.id,
      image: r.image,
      status: r.status,
      cwd: r.cwd,
      workspace_id: r.workspace_id,
      created_at: r.created_at,
      expires_at: new Date(live.expiresAt).toISOString(),
      last_activity: new Date(live.lastActivity).toISOString(),
      ttl_seconds: r.ttl_seconds,
      max_lifetime_seconds: r.max_lifetime_seconds,
      container_id: `${this.opts.provider.name}-${r.id}`,
      network: live.egress?.info() ?? live.networkAtEnd ?? noNetworkInfo(),
    };
  }

  private mapSandboxError(e: unknown, live: Live): Error {
    if (!(e instanceof SandboxError)) return e as Error;
    switch (e.kind) {
      case 'PATH_OUTSIDE':
        return new AppError('INVALID_REQUEST', `refused: ${e.message}`);
      case 'NOT_FOUND':
        return new SessionFileNotFound(`file not found: ${e.message}`);
      case 'NOT_A_FILE':
        return new AppError('INVALID_REQUEST', e.message);
      case 'LIMIT':
        return new AppError('RESOURCE_EXHAUSTED', e.message);
      case 'NO_SPACE':
        return new AppError('RESOURCE_EXHAUSTED', `the file is too large for the sandbox's limits: ${e.message}`);
      case 'SANDBOX_GONE':
        if (live.record.status === 'running') void this.end(live, 'crashed', 'the sandbox exited unexpectedly');
        return new AppError('SESSION_EXPIRED', "the session's sandbox has exited");
      case 'PROTOCOL':
        // The runner is compromised or broken: the session ends (its sandbox is already being destroyed).
        if (live.record.status === 'running') void this.end(live, 'crashed', e.message);
        return new AppError('SESSION_EXPIRED', `the session was ended: ${e.message}`, { reason: 'runner_protocol' });
      default:
        return new AppError('INTERNAL_ERROR', e.message);
    }
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

  private end(live: Live, status: SessionRecord['status'], reason: string): Promise<void> {
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
