// One sandbox's egress listener driven straight over its unix socket, with an
// injected resolver: request bodies forwarded both ways of framing them, the
// address checked being the one connected to when the resolver changes its
// answer, and open mode never reaching allowPrivate endpoints.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EgressListener, type BlockedConnection } from '../../server/src/egress/egressListener';
import { boundPolicy } from '../../server/src/egress/networkPolicy';
import type { NetworkPolicyRequest } from '@astraforge/contract/networkPolicy';
import { startOrigin, type Origin } from '../server/egressStandIns';

describe('egress listener', () => {
  let origin: Origin;
  let dir: string;
  let answers: string[][];
  let lookups: string[];
  /** While set, lookups wait for it. */
  let gate: Promise<void> | undefined;

  before(async () => {
    origin = await startOrigin();
    dir = mkdtempSync(join(tmpdir(), 'af-egress-unit-'));
  });
  after(async () => {
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    answers = [];
    lookups = [];
    gate = undefined;
  });

  async function listener(req: NetworkPolicyRequest, blocked: BlockedConnection[] = [], maxConnections = 8): Promise<EgressListener> {
    const p = origin.port;
    const l = new EgressListener({
      socketPath: join(dir, `${Math.random().toString(36).slice(2)}.sock`),
      policy: boundPolicy(req, { allow: [`origin.test:${p}`, `shifty.test:${p}`], deny: [], open: true }),
      addresses: { allowPrivate: new Set([`127.0.0.1:${p}`]), ownAddresses: new Set() },
      resolver: {
        lookup: async (host) => {
          lookups.push(host);
          await gate;
          return answers.shift() ?? ['127.0.0.1'];
        },
      },
      limits: { maxConnections, maxBytes: 1e9, idleTimeoutMs: 5000, maxConnectionMs: 10_000, connectTimeoutMs: 2000 },
      ownerUid: process.getuid?.() ?? 0,
      log: () => undefined,
    });
    l.observe({ allowed: () => undefined, blocked: (b) => blocked.push(b), usage: () => undefined });
    await l.start();
    return l;
  }

  function viaProxy(
    l: EgressListener,
    method: string,
    url: string,
    body?: Buffer,
    chunked = false,
  ): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { host: new URL(url).host };
      if (body && !chunked) headers['content-length'] = String(body.length);
      const req = request({ socketPath: l.socketPath, method, path: url, headers }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      if (body && chunked) {
        req.write(body.subarray(0, 10));
        req.end(body.subarray(10));
      } else req.end(body);
    });
  }

  it('forwardsRequestBodiesWithALengthOrChunked', async () => {
    const l = await listener({ mode: 'allowlist', allow: [`origin.test:${origin.port}`] });
    try {
      const body = Buffer.from('x'.repeat(5000));
      for (const chunked of [false, true]) {
        const r = await viaProxy(l, 'POST', `http://origin.test:${origin.port}/post`, body, chunked);
        assert.equal(r.status, 200);
        assert.match(r.text, /origin \/post/);
      }
      assert.ok(l.info().usage.bytes_sent > 10_000, JSON.stringify(l.info().usage));
    } finally {
      await l.close();
    }
  });

  it('connectsToTheAnswerItCheckedWhenTheResolverChangesItsMind', async () => {
    const blocked: BlockedConnection[] = [];
    const l = await listener({ mode: 'allowlist', allow: [`shifty.test:${origin.port}`] }, blocked);
    try {
      const before = origin.connections;
      answers = [['10.9.9.9'], ['127.0.0.1']];
      const first = await viaProxy(l, 'GET', `http://shifty.test:${origin.port}/a`);
      assert.equal(first.status, 403, 'private, not in allowPrivate');
      const second = await viaProxy(l, 'GET', `http://shifty.test:${origin.port}/b`);
      assert.equal(second.status, 200, 'loopback:port is in allowPrivate and the entry names the host');
      assert.deepEqual(lookups, ['shifty.test', 'shifty.test']);
      assert.equal(origin.connections, before + 1);
      assert.deepEqual(
        blocked.map((b) => b.rule),
        ['private-address'],
      );
    } finally {
      await l.close();
    }
  });

  it('neverReachesAnAllowPrivateEndpointInOpenMode', async () => {
    const l = await listener({ mode: 'open' });
    try {
      const r = await viaProxy(l, 'GET', `http://origin.test:${origin.port}/x`);
      assert.equal(r.status, 403);
      assert.match(r.text, /loopback address/);
    } finally {
      await l.close();
    }
  });

  it('countsLookupsUnderWayTowardTheConnectionLimit', async () => {
    const blocked: BlockedConnection[] = [];
    const l = await listener({ mode: 'allowlist', allow: [`shifty.test:${origin.port}`] }, blocked, 2);
    try {
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      const slow = [1, 2].map(() => viaProxy(l, 'GET', `http://shifty.test:${origin.port}/slow`));
      while (lookups.length < 2) await new Promise((r) => setTimeout(r, 5));
      const third = await viaProxy(l, 'GET', `http://shifty.test:${origin.port}/third`);
      assert.equal(third.status, 429);
      assert.deepEqual(
        blocked.map((b) => b.rule),
        ['limit:connections'],
      );
      open();
      assert.deepEqual(
        (await Promise.all(slow)).map((r) => r.status),
        [200, 200],
      );
    } finally {
      await l.close();
    }
  });

  it('reportsAtMost500RefusalsButCountsEveryOne', async () => {
    const blocked: BlockedConnection[] = [];
    const l = await listener({ mode: 'allowlist', allow: [`origin.test:${origin.port}`] }, blocked);
    try {
      for (let i = 0; i < 520; i++) {
        const s = connect(l.socketPath);
        s.end(`CONNECT nope${i}.test:443 HTTP/1.1\r\nHost: x\r\n\r\n`);
        for await (const _ of s) void _;
      }
      assert.equal(blocked.length, 500);
      assert.equal(l.info().usage.blocked, 520);
      assert.equal(l.info().blocked.length, 20, 'the latest 20 kept');
      assert.equal(l.info().blocked.at(-1)?.host, 'nope519.test');
    } finally {
      await l.close();
    }
  });

  it('dropsTheUpstreamOfASandboxThatHungUpWhileItWasDialled', async () => {
    const l = await listener({ mode: 'allowlist', allow: [`origin.test:${origin.port}`] }, [], 1);
    try {
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      const quitter = connect(l.socketPath);
      quitter.write(`CONNECT origin.test:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
      while (lookups.length < 1) await new Promise((r) => setTimeout(r, 5));
      quitter.destroy();
      await new Promise((r) => setTimeout(r, 20));
      open();
      gate = undefined;
      await new Promise((r) => setTimeout(r, 100));
      // The only slot is free again: the quitter's upstream did not linger until its idle timeout.
      const s = connect(l.socketPath);
      s.write(`CONNECT origin.test:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const [line] = (await new Promise<Buffer>((r) => s.once('data', r))).toString().split('\r\n');
      s.destroy();
      assert.equal(line, 'HTTP/1.1 200 Connection Established');
    } finally {
      await l.close();
    }
  });

  it('answersCONNECTWithATunnelToTheCheckedAddress', async () => {
    const l = await listener({ mode: 'allowlist', allow: [`origin.test:${origin.port}`] });
    try {
      const s = connect(l.socketPath);
      s.write(
        `CONNECT origin.test:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\nGET /in-tunnel HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n`,
      );
      let data = '';
      for await (const chunk of s) data += (chunk as Buffer).toString();
      assert.match(data, /^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 200 OK/);
      assert.match(data, /origin \/in-tunnel/);
    } finally {
      await l.close();
    }
  });
});
