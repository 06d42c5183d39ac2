// The API double's storage: objects per kind, one resourceVersion counter
// for everything (as etcd's revision), a bounded history of changes that
// watches resume from (older than the window: 410 Gone, as a compacted etcd
// answers), and the watchers that get each change as it happens.
import { randomUUID } from 'node:crypto';
import { apiVersionOf, type KubeKind } from './kubeResources';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    generateName?: string;
    [k: string]: unknown;
  };
  spec?: unknown;
  status?: unknown;
  [k: string]: unknown;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Change {
  type: WatchEventType;
  kind: KubeKind;
  object: KubeObject;
  rv: number;
}

export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const clone = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;

function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class ObjectStore {
  private rv = 1;
  private readonly objects = new Map<KubeKind, Map<string, KubeObject>>();
  private readonly history: Change[] = [];
  private readonly watchers = new Set<(c: Change) => void>();

  constructor(private readonly historyLimit: number) {}

  get resourceVersion(): number {
    return this.rv;
  }

  /** The oldest resourceVersion a watch can still resume after. */
  get oldestResumable(): number {
    return this.history.length ? this.history[0].rv - 1 : this.rv;
  }

  /** Forgets the history, as an etcd compaction does: every older resourceVersion becomes 410 Gone. */
  compact(): void {
    this.history.splice(0);
  }

  private bucket(kind: KubeKind): Map<string, KubeObject> {
    let b = this.objects.get(kind);
    if (!b) this.objects.set(kind, (b = new Map()));
    return b;
  }

  list(kind: KubeKind, namespace: string | undefined): KubeObject[] {
    return [...this.bucket(kind).values()]
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .sort((a, b) => keyOf(a.metadata.namespace, a.metadata.name).localeCompare(keyOf(b.metadata.namespace, b.metadata.name)))
      .map(clone);
  }

  get(kind: KubeKind, namespace: string | undefined, name: string): KubeObject {
    const o = this.bucket(kind).get(keyOf(namespace, name));
    if (!o) throw notFound(kind, name);
    return clone(o);
  }

  create(kind: KubeKind, namespace: string | undefined, obj: KubeObject): KubeObject {
    const meta = obj.metadata;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    const b = this.bucket(kind);
    if (b.has(keyOf(namespace, meta.name))) {
      throw new KubeApiError(409, 'AlreadyExists', `${kind.plural}${kind.group ? `.${kind.group}` : ''} "${meta.name}" already exists`, {
        name: meta.name,
        group: kind.group,
        kind: kind.plural,
      });
    }
    const stored: KubeObject = {
      ...obj,
      apiVersion: apiVersionOf(kind),
      kind: kind.kind,
      metadata: {
        ...meta,
        ...(kind.namespaced ? { namespace } : {}),
        uid: randomUUID(),
        generation: 1,
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      },
    };
    delete stored.metadata.deletionTimestamp;
    if (kind.statusSubresource && kind.kind !== 'Namespace') delete stored.status;
    if (kind.kind === 'Namespace') stored.status = { phase: 'Active' };
    return this.commit('ADDED', kind, b, stored);
  }

  /** A full update of the main resource (status kept where a status subresource owns it). */
  update(kind: KubeKind, namespace: string | undefined, obj: KubeObject, part: 'main' | 'status'): KubeObject {
    const b = this.bucket(kind);
    const current = b.get(keyOf(namespace, obj.metadata.name));
    if (!current) throw notFound(kind, obj.metadata.name);
    const expected = obj.metadata.resourceVersion;
    if (expected && expected !== current.metadata.resourceVersion) {
      throw new KubeApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${kind.plural}${kind.group ? `.${kind.group}` : ''} "${obj.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name: obj.metadata.name, group: kind.group, kind: kind.plural },
      );
    }
    let next: KubeObject;
    if (part === 'status') {
      next = { ...clone(current), status: obj.status };
    } else {
      next = {
        ...obj,
        apiVersion: apiVersionOf(kind),
        kind: kind.kind,
        metadata: {
          ...obj.metadata,
          namespace: current.metadata.namespace,
          uid: current.metadata.uid,
          creationTimestamp: current.metadata.creationTimestamp,
          generation: current.metadata.generation,
        },
      };
      if (!kind.namespaced) delete next.metadata.namespace;
      if (kind.statusSubresource) next.status = current.status;
      if (JSON.stringify(obj.spec) !== JSON.stringify(current.spec)) next.metadata.generation = (current.metadata.generation ?? 1) + 1;
    }
    if (
      JSON.stringify({ ...next, metadata: { ...next.metadata, resourceVersion: undefined } }) ===
      JSON.stringify({ ...current, metadata: { ...current.metadata, resourceVersion: undefined } })
    ) {
      return clone(current); // a no-op write keeps its resourceVersion and wakes no watcher, as the real one
    }
    return this.commit('MODIFIED', kind, b, next);
  }

  delete(kind: KubeKind, namespace: string | undefined, name: string): KubeObject {
    const b = this.bucket(kind);
    const current = b.get(keyOf(namespace, name));
    if (!current) throw notFound(kind, name);
    b.delete(keyOf(namespace, name));
    const gone = clone(current);
    gone.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    return this.commit('DELETED', kind, b, gone);
  }

  /** The changes after `rv` still in the history; undefined when `rv` is older than the window (410 Gone). */
  changesSince(rv: number): Change[] | undefined {
    if (rv < this.oldestResumable) return undefined;
    return this.history.filter((c) => c.rv > rv);
  }

  subscribe(fn: (c: Change) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  private commit(type: WatchEventType, kind: KubeKind, b: Map<string, KubeObject>, obj: KubeObject): KubeObject {
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    if (type !== 'DELETED') b.set(keyOf(obj.metadata.namespace, obj.metadata.name), obj);
    const change: Change = { type, kind, object: clone(obj), rv: this.rv };
    this.history.push(change);
    if (this.history.length > this.historyLimit) this.history.shift();
    for (const w of this.watchers) w(change);
    return clone(obj);
  }
}

export function notFound(kind: KubeKind, name: string): KubeApiError {
  return new KubeApiError(404, 'NotFound', `${kind.plural}${kind.group ? `.${kind.group}` : ''} "${name}" not found`, {
    name,
    group: kind.group,
    kind: kind.plural,
  });
}
