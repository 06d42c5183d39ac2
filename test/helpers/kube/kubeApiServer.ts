// A Kubernetes API server double on loopback: discovery, create, get, list,
// update, merge and JSON patches, delete, the status subresource, label and
// field selectors, resourceVersion with optimistic concurrency, watch with
// bookmarks and 410 Gone, and errors as `Status` objects, for the
// agent-sandbox kinds and namespaces. Checked against the real kubectl
// (test/server/kubeApiDouble.test.ts). Bearer-token auth, as a kubeconfig's
// user token would be checked.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { apiVersionOf, coreVersions, groupDoc, groupList, KINDS, resourceList, type KubeKind } from './kubeResources';
import { KubeApiError, ObjectStore, type Change, type KubeObject } from './objectStore';
import { fieldSelector, labelSelector, SelectorError } from './selectors';
import { openapiV3 } from './openapi';
import {
  isTrue,
  notFoundPath,
  parseObject,
  parseTarget,
  patched,
  readBody,
  sendJson,
  sendStatus,
  statusBody,
  throwNotFound,
  validate,
  type Target,
} from './apiRequests';

export interface KubeApiOptions {
  /** Bearer token every request must carry; unset: anonymous allowed. */
  token?: string;
  /** How many changes watches can resume from (older resourceVersions: 410 Gone). */
  historyLimit?: number;
  /** Time between BOOKMARK events on watches that allow them. */
  bookmarkIntervalMs?: number;
  /** Serve https with this key and certificate (kubectl sends tokens only over TLS). */
  tls?: { key: Buffer; cert: Buffer };
}

export interface KubeRequestLog {
  method: string;
  path: string;
  code: number;
}

export class KubeApiServer {
  readonly store: ObjectStore;
  /** Every request answered, for tests that check what a client asked. */
  readonly requests: KubeRequestLog[] = [];
  /** Watches answered 410 Gone (their resourceVersion was older than the history). */
  expiredWatches = 0;
  private readonly server: Server;
  private readonly openWatches = new Set<ServerResponse>();
  private url = '';

  constructor(private readonly opts: KubeApiOptions = {}) {
    this.store = new ObjectStore(opts.historyLimit ?? 1000);
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.server = opts.tls ? createTlsServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : createServer(handler);
  }

  async start(port = 0): Promise<string> {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', () => r()));
    this.url = `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  get address(): string {
    return this.url;
  }

  async stop(): Promise<void> {
    for (const w of this.openWatches) w.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Ends every open watch, as an API server restart or a load balancer's idle cut would. */
  dropWatches(): void {
    for (const w of this.openWatches) w.end();
  }

  // --- in-process access for the controller double and tests ---
  kind(kindName: string): KubeKind {
    const k = KINDS.find((x) => x.kind === kindName);
    if (!k) throw new Error(`unknown kind ${kindName}`);
    return k;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    res.on('finish', () => this.requests.push({ method: req.method ?? '', path: url.pathname + url.search, code: res.statusCode }));
    try {
      if (this.opts.token && req.headers.authorization !== `Bearer ${this.opts.token}`) {
        throw new KubeApiError(401, 'Unauthorized', 'Unauthorized');
      }
      const body = await readBody(req);
      const discovery = this.discovery(url.pathname);
      if (discovery !== undefined) {
        if (req.method !== 'GET')
          throw new KubeApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        return sendJson(res, 200, discovery);
      }
      const target = parseTarget(url.pathname);
      if (!target) throw new KubeApiError(404, 'NotFound', 'the server could not find the requested resource');
      await this.serveResource(req.method ?? 'GET', target, url.searchParams, body, req, res);
    } catch (e) {
      sendStatus(res, e);
    }
  }

  private discovery(path: string): object | undefined {
    const p = path.replace(/\/$/, '');
    if (p === '/version') return { major: '1', minor: '32', gitVersion: 'v1.32.0-astraforge-double', platform: 'linux/amd64' };
    if (p === '/healthz' || p === '/readyz' || p === '/livez') return { ok: true };
    if (p.startsWith('/openapi/v3')) return openapiV3(p) ?? throwNotFound();
    if (p === '/api') return coreVersions(this.url.replace(/^https?:\/\//, ''));
    if (p === '/apis') return groupList();
    let m = /^\/api\/(v1)$/.exec(p);
    if (m) return resourceList('', m[1]);
    m = /^\/apis\/([^/]+)$/.exec(p);
    if (m) return groupDoc(m[1]) ?? throwNotFound();
    m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(p);
    if (m) return resourceList(m[1], m[2]) ?? throwNotFound();
    return undefined;
  }

  private async serveResource(
    method: string,
    t: Target,
    q: URLSearchParams,
    body: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const { kind } = t;
    if (t.sub && (t.sub !== 'status' || !kind.statusSubresource)) throw notFoundPath();
    const dryRun = q.get('dryRun') === 'All';
    if (!t.name) {
      if (method === 'GET' && isTrue(q.get('watch'))) return this.watch(t, q, res);
      if (method === 'GET') return sendJson(res, 200, this.listOf(t, q));
      if (method === 'POST') {
        const obj = parseObject(body, kind);
        if (kind.namespaced) {
          if (obj.metadata.namespace && obj.metadata.namespace !== t.namespace) {
            throw new KubeApiError(
              400,
              'BadRequest',
              'the namespace of the provided object does not match the namespace sent on the request',
            );
          }
          this.requireNamespace(t.namespace!);
        }
        validate(kind, obj);
        if (dryRun) return sendJson(res, 201, { ...obj, apiVersion: apiVersionOf(kind), kind: kind.kind });
        return sendJson(res, 201, this.store.create(kind, t.namespace, obj));
      }
      if (method === 'DELETE') {
        const victims = this.listOf(t, q).items;
        for (const v of victims) this.deleteOne(kind, v.metadata.namespace, v.metadata.name);
        return sendJson(res, 200, { kind: `${kind.kind}List`, apiVersion: apiVersionOf(kind), metadata: {}, items: victims });
      }
      throw new KubeApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    }
    const name = t.name;
    if (method === 'GET') return sendJson(res, 200, this.store.get(kind, t.namespace, name));
    if (method === 'DELETE') {
      if (dryRun) return sendJson(res, 200, this.store.get(kind, t.namespace, name));
      return sendJson(res, 200, this.deleteOne(kind, t.namespace, name));
    }
    if (method === 'PUT' || method === 'PATCH') {
      let obj: KubeObject;
      if (method === 'PUT') {
        obj = parseObject(body, kind);
        if (obj.metadata.name !== name)
          throw new KubeApiError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
      } else {
        const current = this.store.get(kind, t.namespace, name);
        obj = patched(current, body, String(req.headers['content-type'] ?? ''));
        if (!/resourceVersion/.test(body)) obj.metadata.resourceVersion = current.metadata.resourceVersion;
      }
      if (t.sub !== 'status') validate(kind, obj);
      if (dryRun) return sendJson(res, 200, obj);
      return sendJson(res, 200, this.store.update(kind, t.namespace, obj, t.sub === 'status' ? 'status' : 'main'));
    }
    throw new KubeApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  }

  private requireNamespace(ns: string): void {
    const nsKind = this.kind('Namespace');
    try {
      this.store.get(nsKind, undefined, ns);
    } catch {
      throw new KubeApiError(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' });
    }
  }

  /** Deletes an object; a namespace takes everything in it along. */
  private deleteOne(kind: KubeKind, namespace: string | undefined, name: string): KubeObject {
    const gone = this.store.delete(kind, namespace, name);
    if (kind.kind === 'Namespace') {
      for (const k of KINDS.filter((x) => x.namespaced))
        for (const o of this.store.list(k, name)) this.store.delete(k, name, o.metadata.name);
    }
    return gone;
  }

  private matcher(t: Target, q: URLSearchParams): (o: KubeObject) => boolean {
    try {
      const labels = labelSelector(q.get('labelSelector'));
      const fields = fieldSelector(q.get('fieldSelector'));
      return (o) => (t.namespace === undefined || o.metadata.namespace === t.namespace) && labels(o.metadata.labels ?? {}) && fields(o);
    } catch (e) {
      if (e instanceof SelectorError) throw new KubeApiError(400, 'BadRequest', `unable to parse requirement: ${e.message}`);
      throw e;
    }
  }

  private listOf(t: Target, q: URLSearchParams): { kind: string; apiVersion: string; metadata: object; items: KubeObject[] } {
    const match = this.matcher(t, q);
    return {
      kind: `${t.kind.kind}List`,
      apiVersion: apiVersionOf(t.kind),
      metadata: { resourceVersion: String(this.store.resourceVersion) },
      items: this.store.list(t.kind, t.namespace).filter(match),
    };
  }

  private watch(t: Target, q: URLSearchParams, res: ServerResponse): void {
    const match = this.matcher(t, q);
    const rvParam = q.get('resourceVersion');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache' });
    res.flushHeaders();
    // A watch that has ended takes nothing more: a bookmark's timer or a change may fire between end() and 'finish'.
    const send = (type: string, object: unknown) => {
      if (!res.writableEnded && !res.destroyed) res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const relevant = (c: Change) => c.kind === t.kind && match(c.object);
    let backlog: Change[];
    if (!rvParam || rvParam === '0') {
      for (const o of this.store.list(t.kind, t.namespace).filter(match)) send('ADDED', o);
      backlog = [];
    } else {
      const since = this.store.changesSince(Number(rvParam));
      if (!since) {
        this.expiredWatches++;
        send('ERROR', statusBody(new KubeApiError(410, 'Expired', `too old resource version: ${rvParam} (${this.store.oldestResumable})`)));
        res.end();
        return;
      }
      backlog = since;
    }
    for (const c of backlog.filter(relevant)) send(c.type, c.object);
    // Subscribed in the same tick as the backlog was read: no change falls between the two.
    const unsubscribe = this.store.subscribe((c) => {
      if (relevant(c)) send(c.type, c.object);
    });
    this.openWatches.add(res);
    const timers: NodeJS.Timeout[] = [];
    if (isTrue(q.get('allowWatchBookmarks'))) {
      timers.push(
        setInterval(
          () =>
            send('BOOKMARK', {
              kind: t.kind.kind,
              apiVersion: apiVersionOf(t.kind),
              metadata: { resourceVersion: String(this.store.resourceVersion) },
            }),
          this.opts.bookmarkIntervalMs ?? 1000,
        ),
      );
    }
    const close = () => {
      unsubscribe();
      for (const tm of timers) clearTimeout(tm);
      this.openWatches.delete(res);
    };
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    if (timeout > 0)
      timers.push(
        setTimeout(() => {
          close();
          res.end();
        }, timeout * 1000),
      );
    res.on('close', close);
    res.on('finish', close);
  }
}
