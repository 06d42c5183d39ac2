// The extension's server client against the real server: a snapshot from
// the snapshot builder, a run, its events exactly once and in order
// (replayed, resumed after a seq), the diff, and errors as typed failures.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunEvent } from '../../server/src/contract/runApi';
import { ServerClient, ServerError } from '../../src/server/serverClient';
import { listWorkspaceFiles, packSnapshot, planSnapshot } from '../../src/snapshot/snapshotBuilder';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

describe('extension server client', function () {
  this.timeout(60_000);
  let server: ServerProcess;
  let client: ServerClient;
  let dir: string;

  before(async () => {
    server = await startServer();
    client = new ServerClient(server.url, server.apiKey);
    dir = mkdtempSync(join(tmpdir(), 'af-client-'));
    writeFileSync(join(dir, 'a.txt'), 'one\n');
  });
  after(async () => {
    await client?.close();
    await server?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function snapshot(): Promise<string> {
    const plan = await planSnapshot(dir, await listWorkspaceFiles(dir), { maxFiles: 100, maxBytes: 1e6 });
    return (await client.uploadSnapshot(packSnapshot(dir, plan))).snapshot_id;
  }

  it('runsAndFollowsEveryEventOnce', async () => {
    const run = await client.createRun({
      agent: 'command',
      task: { kind: 'spec', prompt: 'count', command: 'for i in 1 2 3; do echo line$i; sleep 0.2; done; echo two >> a.txt' },
      snapshot_id: await snapshot(),
    });
    const events: RunEvent[] = [];
    const last = await client.followEvents(run.id, { afterSeq: 0, signal: new AbortController().signal, onEvent: (e) => events.push(e) });
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
      'every seq once, in order',
    );
    assert.equal(events.at(-1)?.type, 'run.finished');
    assert.equal(events.at(-1)?.status, 'succeeded');
    assert.equal(last, events.at(-1)?.seq);
    const output = events
      .filter((e) => e.type === 'command.output')
      .map((e) => e.text)
      .join('');
    assert.equal(output, 'line1\nline2\nline3\n');

    // Resuming after a seq gives exactly the rest.
    const rest: RunEvent[] = [];
    await client.followEvents(run.id, { afterSeq: 5, signal: new AbortController().signal, onEvent: (e) => rest.push(e) });
    assert.deepEqual(
      rest.map((e) => e.seq),
      events.slice(5).map((e) => e.seq),
    );

    const diff = await client.diff(run.id);
    assert.equal(diff.files.length, 1);
    assert.match(diff.files[0].patch, /\+two/);
    const list = await client.listRuns();
    assert.equal(list.runs[0].id, run.id);
  });

  it('turnsServerErrorsIntoTypedFailures', async () => {
    await assert.rejects(client.getRun('nope'), (e: unknown) => e instanceof ServerError && e.status === 404 && e.code === 'RUN_NOT_FOUND');
    const bad = new ServerClient(server.url, 'wrong-key');
    await assert.rejects(bad.checkAuth(), (e: unknown) => e instanceof ServerError && e.status === 401);
    await bad.close();
    assert.equal(await new ServerClient('http://127.0.0.1:1', 'x').health(), false);
  });

  it('stopsFollowingWhenAborted', async () => {
    const run = await client.createRun({
      agent: 'command',
      task: { kind: 'spec', prompt: 'wait', command: 'sleep 20' },
      snapshot_id: await snapshot(),
    });
    const ac = new AbortController();
    const seen: RunEvent[] = [];
    const following = client.followEvents(run.id, { afterSeq: 0, signal: ac.signal, onEvent: (e) => seen.push(e) });
    await new Promise((r) => setTimeout(r, 500));
    ac.abort();
    const t0 = Date.now();
    await following;
    assert.ok(Date.now() - t0 < 2000);
    assert.ok(seen.length > 0 && !seen.some((e) => e.type === 'run.finished'));
    await client.cancel(run.id);
  });

  it('readsTheSnapshotsFilesAsTheMergeBase', async () => {
    writeFileSync(join(dir, 'b.bin'), Buffer.from([0, 1, 2, 255]));
    const run = await client.createRun({
      agent: 'command',
      task: { kind: 'spec', prompt: 'edit', command: 'echo changed > a.txt' },
      snapshot_id: await snapshot(),
    });
    await client.followEvents(run.id, { afterSeq: 0, signal: new AbortController().signal, onEvent: () => undefined });
    const base = await client.baseFiles(run.id, ['a.txt', 'b.bin', 'nope.txt']);
    assert.equal(base.get('a.txt')?.toString(), 'one\n', 'the file as it was, not as the agent left it');
    assert.deepEqual([...base.get('b.bin')!], [0, 1, 2, 255]);
    assert.equal(base.has('nope.txt'), true);
    assert.equal(base.get('nope.txt'), undefined);
    await assert.rejects(client.baseFiles(run.id, ['../etc/passwd']), (e: ServerError) => e.status === 400);
    // The agent's version, from the run's sandbox (what binary files need).
    const proposed = await client.proposedFiles(run.id, ['a.txt', 'b.bin', 'nope.txt']);
    assert.equal(proposed.get('a.txt')?.toString(), 'changed\n');
    assert.deepEqual([...proposed.get('b.bin')!], [0, 1, 2, 255]);
    assert.equal(proposed.get('nope.txt'), undefined);
  });
});
