// A run's environment: found in its snapshot, taken from the cache when its
// key is kept, otherwise built by running the setup command in a sandbox of
// its own (never on the host) over the snapshot, whose writable layer then
// becomes the environment. Concurrent runs with one key share one build.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SETUP_NETWORK, type EnvironmentDefinition } from '@astraforge/contract/environment';
import { RunEventName } from '@astraforge/contract/runEvents';
import type { SessionManager } from '../sessions/sessionManager';
import { resolveInLayers } from '../sessions/workspaceLayers';
import { shellQuote } from '../sessions/shellQuote';
import type { SnapshotLayer } from '../snapshots/snapshotLayers';
import type { RunEventLog } from '../runs/runEventLog';
import type { CachedEnvironment, EnvironmentCache } from './environmentCache';
import { environmentKey, resolveEnvironment, treeFiles } from './environmentDefinition';

/** What a run gets of its environment. */
export interface RunEnvironment {
  definition: EnvironmentDefinition;
  key: string;
  /** The read-only layer over the snapshot; absent when the definition has no setup. */
  layer?: CachedEnvironment;
  /** The image to start the run's sandbox from, when the provider takes it. */
  image?: string;
}

export class EnvironmentSetupFailed extends Error {}

export interface EnvironmentsOptions {
  sessions: SessionManager;
  cache: EnvironmentCache;
  /** The setup sandbox's lease while its command runs, seconds. */
  sessionTtlSeconds: number;
  log: (obj: Record<string, unknown>, msg: string) => void;
  /** Lets go of the environments of sandboxes that have ended, so eviction may take them. */
  releaseEnded?: () => void;
}

export class Environments {
  private readonly building = new Map<string, Promise<CachedEnvironment>>();

  constructor(private readonly opts: EnvironmentsOptions) {}

  /**
   * The run's environment, ready (built now if need be, its setup's output
   * streamed as the run's events); undefined when the workspace defines none.
   */
  async prepare(
    snapshot: Pick<SnapshotLayer, 'lowers'>,
    manifest: ReadonlyMap<string, { sha256: string; type: string }>,
    events: RunEventLog,
    signal: AbortSignal,
  ): Promise<RunEnvironment | undefined> {
    const files = treeFiles(snapshot.lowers, manifest);
    const definition = resolveEnvironment(files);
    if (!definition) return undefined;
    const key = environmentKey(definition, files);
    const image = definition.image && this.opts.sessions.acceptsImage(definition.image) ? definition.image : undefined;
    const base = { definition, key, ...(image ? { image } : {}) };
    if (!definition.setup) return base;
    let layer = this.opts.cache.get(key);
    let cached = true;
    if (!layer) {
      const pending = this.building.get(key);
      if (pending) layer = await pending;
      else {
        cached = false;
        const build = this.build(definition, definition.setup, key, image, snapshot, events, signal);
        this.building.set(key, build);
        try {
          layer = await build;
        } finally {
          this.building.delete(key);
        }
      }
    }
    events.emit(RunEventName.environmentReady, { key, cached, source: definition.source, bytes: layer.bytes });
    return { ...base, layer };
  }

  private async build(
    def: EnvironmentDefinition,
    setup: string,
    key: string,
    image: string | undefined,
    snapshot: Pick<SnapshotLayer, 'lowers'>,
    events: RunEventLog,
    signal: AbortSignal,
  ): Promise<CachedEnvironment> {
    const { sessions, cache } = this.opts;
    events.emit(RunEventName.environmentSetupStarted, { key, source: def.source, command: setup });
    const buildDir = cache.buildDir(key);
    let sessionId: string | undefined;
    try {
      // The setup phase's own policy (registries, usually), narrowed to what the server allows: the file is the repository's.
      const network = sessions.narrowNetwork(def.network.setup);
      const narrowed = network.dropped.length
        ? `astraforge: network for the setup: ${network.dropped.join(', ')} left out, beyond what this server allows (its network.allow / network.open)\n`
        : undefined;
      // What the file asked for is said at once; the default (the package registries) only when setup fails, where it may be why.
      const askedByFile = def.network.setup !== DEFAULT_SETUP_NETWORK;
      if (narrowed && askedByFile) events.emit(RunEventName.environmentSetupOutput, { stream: 'stderr', text: narrowed });
      const session = await sessions.create(
        { ttl_seconds: this.opts.sessionTtlSeconds, ...(image ? { image } : {}), ...(network.request ? { network: network.request } : {}) },
        { layers: { lowers: snapshot.lowers, keepUpperAt: buildDir }, labels: { purpose: 'environment-setup', key } },
      );
      sessionId = session.id;
      const r = await sessions.exec(session.id, `${envExports(def.env)}cd /workspace && ${setup}`, {
        timeoutMs: def.setupTimeoutSeconds * 1000,
        separateStderr: true,
        signal,
        onOutput: (stream, text) => events.emit(RunEventName.environmentSetupOutput, { stream, text }),
      });
      events.emit(RunEventName.environmentSetupFinished, {
        key,
        exit_code: r.exitCode,
        duration_ms: r.durationMs,
        timed_out: r.timedOut,
      });
      if (r.cancelled || signal.aborted) throw new EnvironmentSetupFailed('the environment setup was cancelled');
      if (r.timedOut) throw new EnvironmentSetupFailed(`the environment setup exceeded its ${def.setupTimeoutSeconds} s limit`);
      if (r.exitCode !== 0) {
        if (narrowed && !askedByFile) events.emit(RunEventName.environmentSetupOutput, { stream: 'stderr', text: narrowed });
        throw new EnvironmentSetupFailed(`the environment setup failed with exit code ${r.exitCode}`);
      }
      // Ending the session takes its workspace apart: its writable layer, in buildDir, becomes a shared one.
      await sessions.destroy(session.id);
      sessionId = undefined;
      this.opts.releaseEnded?.();
      const { env, evicted } = await cache.put(key, buildDir, def.source);
      for (const e of evicted) this.opts.log({ environment: e.key, bytes: e.bytes }, 'environment evicted (cache over its size)');
      this.opts.log({ environment: key, bytes: env.bytes, source: def.source }, 'environment built');
      return env;
    } catch (e) {
      if (sessionId) await sessions.destroy(sessionId).catch(() => undefined);
      cache.discard(buildDir);
      throw e;
    }
  }
}

/** `export NAME='value'; ` for each variable (names are checked by the schema). */
export function envExports(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}=${shellQuote(v)}; `)
    .join('');
}

/** What an environment layer holds relative to a snapshot's tree, for the run's diff. */
export interface EnvironmentFootprint {
  /** Paths the environment added (not in the snapshot): the diff leaves them out. */
  added: string[];
  /** Snapshot files the setup changed: left out of the diff while they hold what setup left. */
  changed: string[];
  /** Snapshot files the setup deleted. */
  deleted: string[];
}

/** Walks the environment layer only as deep as the snapshot (its layers, bottom first) also goes (a new folder is one entry). */
export function environmentFootprint(layer: string, snapshotLowers: readonly string[]): EnvironmentFootprint {
  const out: EnvironmentFootprint = { added: [], changed: [], deleted: [] };
  const walk = (rel: string) => {
    for (const name of readdirSync(join(layer, rel))) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(layer, path));
      const where = resolveInLayers(snapshotLowers, path);
      const base = where ? lstatSync(where) : undefined;
      if (st.isCharacterDevice()) {
        if (base) out.deleted.push(path);
      } else if (!base) out.added.push(path);
      else if (st.isDirectory() && base.isDirectory()) walk(path);
      else out.changed.push(path);
    }
  };
  walk('');
  return out;
}
