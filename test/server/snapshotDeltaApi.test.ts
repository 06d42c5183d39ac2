// Incremental snapshots over HTTP, from the extension's own client: the first
// Send uploads the whole tar, a Send after a one-file edit uploads that one
// content, and a run on it sees exactly the files a full upload gives.
// Hostile plans and uploads get the 400 (or 413) envelope.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { pack } from 'tar-stream';
import { ServerClient } from '../../src/server/serverClient';
import { forgetHashCaches, hashCacheFor, setHashCacheStorage } from '../../src/snapshot/hashCache';
import { listWorkspaceFiles, packSnapshot, planSnapshot } from '../../src/snapshot/snapshotBuilder';
import { ApiClient } from '../helpers/apiClient';
import { waitForRun } from '../helpers/runHelpers';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

const MiB = 1024 * 1024;
const LIMITS = { maxArchiveBytes: 8 * MiB, maxUnpackedBytes: 8 * MiB, maxFiles: 1000, maxFileBytes: 2 * MiB };
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

describe('incremental snapshots (API)', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let api: ApiClient;
  let client: ServerClient;
  let dir: string;

  before(async () => {
    server = await startServer({ config: { snapshots: LIMITS } });
    api = new ApiClient(server.url, server.apiKey);
    client = new ServerClient(server.url, server.apiKey);
    dir = mkdtempSync(join(tmpdir(), 'af-delta-ws-'));
    for (let i = 0; i < 200; i++) {
      mkdirSync(join(dir, `d${i % 10}`), { recursive: true });
      writeFileSync(join(dir, `d${i % 10}`, `f${i}.txt`), `file ${i}\n`.repeat(50));
      // written a minute ago: a hash taken right after a write is not trusted (the racy-file rule)
      utimesSync(join(dir, `d${i % 10}`, `f${i}.txt`), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    }
    writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
    utimesSync(join(dir, 'run.sh'), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    symlinkSync('d1/f1.txt', join(dir, 'link'));
  });
  after(async () => {
    await client?.close();
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const send = async () =>
    client.sendWorkspace(packSnapshot(dir, await planSnapshot(dir, await listWorkspaceFiles(dir), { maxFiles: 1000, maxBytes: 1e7 })));
  const manifestOf = (id: string) => readFileSync(join(server.dataDir, 'snapshots', id, 'manifest.json'), 'utf8');
  const archiveOf = (id: string) => readFileSync(join(server.dataDir, 'snapshots', id, 'snapshot.tar'));

  async function workspaceListing(snapshotId: string): Promise<string> {
    const run = await api.post('/api/runs', {
      agent: 'command',
      task: { kind: 'spec', prompt: 'list', command: 'true' },
      snapshot_id: snapshotId,
    });
    assert.equal(run.status, 201, JSON.stringify(run.body));
    const done = await waitForRun(api, run.body.id, ['succeeded', 'failed']);
    assert.equal(done.status, 'succeeded', done.error);
    const out = await api.exec(
      done.session_id,
      "cd /workspace && find . -path ./.git -prune -o -type f -printf '%p %m ' -exec sha256sum {} \\; | sort && find . -type l -printf '%p -> %l\\n' && ./run.sh",
    );
    assert.equal(out.status, 200, JSON.stringify(out.body));
    return out.body.output as string;
  }

  async function post(path: string, body: Buffer | string, type: string) {
    const res = await request(`${server.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': type },
      body,
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
  }

  async function tarOf(entries: Array<[string, Buffer]>): Promise<Buffer> {
    const p = pack();
    for (const [name, data] of entries) p.entry({ name, type: 'file' }, data);
    p.finalize();
    const parts: Buffer[] = [];
    for await (const c of p as unknown as AsyncIterable<Buffer>) parts.push(Buffer.from(c));
    return Buffer.concat(parts);
  }

  it('uploadsOneContentAfterAOneFileEditAndRunsOnTheSameFilesAsAFullUpload', async () => {
    const first = await send();
    assert.equal(first.mode, 'full', 'the first Send of a workspace is the whole tar');
    assert.equal(first.uploaded, 201);

    // a run on the first gives it a layer: the next snapshot's layer is derived from that one, through its delta
    const before = await workspaceListing(first.result.snapshot_id);
    assert.match(before, new RegExp(`./d3/f13.txt 6\\d\\d ${sha('file 13\n'.repeat(50))}`));

    writeFileSync(join(dir, 'd3', 'f13.txt'), 'edited\n');
    const second = await send();
    assert.equal(second.mode, 'incremental', second.fellBack);
    assert.equal(second.uploaded, 1, 'one content uploaded');
    assert.equal(second.hashed, 1, 'one file read to hash it');
    assert.equal(second.planned, 1, 'the plan names only the edited file');
    assert.deepEqual(
      { ...second.result, snapshot_id: '' },
      { files: 201, bytes: first.result.bytes - 'file 13\n'.length * 50 + 7, snapshot_id: '' },
    );

    // the same tree sent whole, as the toolkit or an older extension would
    const whole = await client.uploadSnapshot(
      (async function* () {
        yield* packSnapshot(dir, await planSnapshot(dir, await listWorkspaceFiles(dir), { maxFiles: 1000, maxBytes: 1e7 }));
      })(),
    );
    assert.equal(manifestOf(second.result.snapshot_id), manifestOf(whole.snapshot_id));
    assert.ok(archiveOf(second.result.snapshot_id).length <= 4096, 'kept as a delta: its own archive holds the changed entry');
    const listing = await workspaceListing(second.result.snapshot_id);
    assert.match(listing, new RegExp(`./d3/f13.txt 6\\d\\d ${sha('edited\n')}`));
    assert.match(listing, /\.\/run\.sh 7\d\d /);
    assert.match(listing, /\.\/link -> d1\/f1\.txt/);
    assert.match(listing, /\nran\n?$/);
    assert.equal(listing, await workspaceListing(whole.snapshot_id));
    // its layer came from the first one's and its own small archive, not a whole unpack
  });

  it('sendsOnlyTheChangesOnTheFirstSendAfterARestartAndTheWholeManifestWhenTheBaseIsGone', async () => {
    const storage = mkdtempSync(join(tmpdir(), 'af-delta-storage-'));
    try {
      setHashCacheStorage(storage);
      forgetHashCaches();
      const first = await send();
      assert.equal(first.mode, 'full', 'nothing kept yet');
      await hashCacheFor(dir).save(dir);

      forgetHashCaches(); // a new extension host: the cache comes from the storage
      writeFileSync(join(dir, 'd4', 'f24.txt'), 'after the restart\n');
      const second = await send();
      assert.equal(second.mode, 'incremental', second.fellBack);
      assert.equal(second.planned, 1, 'only the edited file');
      assert.equal(second.uploaded, 1);
      assert.ok(second.hashed <= 2, `${second.hashed} files read`);

      // the server no longer keeps the last snapshot: 410, and the whole manifest instead (its contents still reused)
      rmSync(join(server.dataDir, 'snapshots', second.result.snapshot_id), { recursive: true, force: true });
      const gone = await request(`${server.url}/api/snapshots/plan`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ base_snapshot_id: second.result.snapshot_id, changed: [], removed: [] }),
      });
      assert.equal(gone.statusCode, 410);
      assert.equal(((await gone.body.json()) as { error_code: string }).error_code, 'SESSION_EXPIRED');
      writeFileSync(join(dir, 'd5', 'f25.txt'), 'base gone\n');
      const third = await send();
      assert.equal(third.mode, 'incremental', third.fellBack);
      assert.equal(third.planned, 202, 'every entry: 201 files and the link');
      assert.equal(third.uploaded, 2, 'the new edit, and the edit only the removed snapshot held');
      const whole = await client.uploadSnapshot(
        (async function* () {
          yield* packSnapshot(dir, await planSnapshot(dir, await listWorkspaceFiles(dir), { maxFiles: 1000, maxBytes: 1e7 }));
        })(),
      );
      assert.equal(manifestOf(third.result.snapshot_id), manifestOf(whole.snapshot_id));
      const fourth = await send();
      assert.equal(fourth.planned, 0, 'nothing changed since');
      assert.equal(manifestOf(fourth.result.snapshot_id), manifestOf(whole.snapshot_id));
    } finally {
      // A Send saves its cache on the next turn of the loop: that save must be written before its folder goes.
      await new Promise((r) => setImmediate(r));
      await hashCacheFor(dir).save(dir);
      setHashCacheStorage(undefined);
      rmSync(storage, { recursive: true, force: true });
    }
  });

  it('refusesHostilePlansAndUploadsWithTheEnvelope', async () => {
    const file = { path: 'a.txt', type: 'file', mode: 0o644, size: 5, sha256: sha('hello'), mtime: 0 };
    const plan = async (files: unknown[]) => post('/api/snapshots/plan', JSON.stringify({ files }), 'application/json');
    const traversal = await plan([{ ...file, path: '../../etc/passwd' }]);
    assert.equal(traversal.status, 400);
    assert.equal(traversal.body.error_code, 'INVALID_REQUEST');
    assert.match(traversal.body.message, /leaves the snapshot root/);
    const outside = await plan([{ path: 'l', type: 'symlink', mode: 0o777, size: 0, sha256: sha('/etc'), mtime: 0, link_target: '/etc' }]);
    assert.equal(outside.status, 400);
    const badHash = await plan([{ ...file, sha256: 'not-a-hash' }]);
    assert.equal(badHash.status, 400);
    const oversized = await plan([{ ...file, size: 3 * MiB }]);
    assert.equal(oversized.status, 413);
    assert.equal(oversized.body.error_code, 'PAYLOAD_TOO_LARGE');
    const tooMany = await plan(Array.from({ length: 1001 }, (_, i) => ({ ...file, path: `f${i}` })));
    assert.equal(tooMany.status, 413);

    const stored = () => JSON.stringify(readdirSync(join(server.dataDir, 'snapshots')).sort());
    const before = stored();
    const ok = await plan([{ ...file, sha256: sha(`hello ${process.pid}`), size: `hello ${process.pid}`.length }]);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.missing, [sha(`hello ${process.pid}`)]);
    const mismatch = await post(
      `/api/snapshots?plan=${ok.body.plan_id}`,
      await tarOf([[ok.body.missing[0], Buffer.from(`HELLO ${process.pid}`)]]),
      'application/x-tar',
    );
    assert.equal(mismatch.status, 400);
    assert.match(mismatch.body.message, /does not have that hash/);
    assert.equal(stored(), before, 'nothing of a refused upload is kept');
    const replay = await post(
      `/api/snapshots?plan=${ok.body.plan_id}`,
      await tarOf([[ok.body.missing[0], Buffer.from(`hello ${process.pid}`)]]),
      'application/x-tar',
    );
    assert.equal(replay.status, 400, 'a plan is good once, even after a refused upload');
    assert.match(replay.body.message, /unknown, expired or already used/);
    const unknown = await post('/api/snapshots?plan=ffffffffffffffffffffffff', await tarOf([]), 'application/x-tar');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error_code, 'INVALID_REQUEST');

    const again = await plan([{ ...file, sha256: sha(`hello ${process.pid}`), size: `hello ${process.pid}`.length }]);
    const good = await post(
      `/api/snapshots?plan=${again.body.plan_id}`,
      await tarOf([[again.body.missing[0], Buffer.from(`hello ${process.pid}`)]]),
      'application/x-tar',
    );
    assert.equal(good.status, 201, JSON.stringify(good.body));
    assert.deepEqual({ ...good.body, snapshot_id: '' }, { files: 1, bytes: `hello ${process.pid}`.length, snapshot_id: '' });
    const replayed = await post(`/api/snapshots?plan=${again.body.plan_id}`, await tarOf([]), 'application/x-tar');
    assert.equal(replayed.status, 400, 'a used plan cannot be replayed');
  });

  it('isInTheOpenApiDocument', async () => {
    const doc = await api.get('/api/openapi.json');
    assert.ok(doc.body.paths['/api/snapshots/plan']?.post, 'the plan route');
    const params = doc.body.paths['/api/snapshots'].post.parameters ?? [];
    assert.ok(
      params.some((p: { name: string }) => p.name === 'plan'),
      'POST /api/snapshots?plan=',
    );
  });
});
