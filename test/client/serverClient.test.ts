// The extension's server client against the real server: a snapshot from
// the snapshot builder, a run, its events exactly once and in order
// (replayed, resumed after a seq), the diff, and errors as typed failures.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Run, RunEvent } from '@astraforge/contract/runApi';
import { ServerClient, ServerError, type SkippedEvent } from '../../src/server/serverClient';
import { listWorkspaceFiles, packSnapshot, planSnapshot } from '../../src/snapshot/snapshotBuilder';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { until } from '../helpers/until';

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
    const finished = events.at(-1);
    assert.equal(finished?.type, 'run.finished');
    assert.equal(finished.status, 'succeeded');
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
    await until('the first events', () => seen.length > 0);
    ac.abort();
    const t0 = Date.now();
    await following;
    assert.ok(Date.now() - t0 < 2000);
    assert.ok(seen.length > 0 && !seen.some((e) => e.type === 'run.finished'));
    await client.cancel(run.id);
  });

  it('followsRunChangesAndEndsItsStreamsWhenClosed', async () => {
    // A client of its own: closing it must not wait for its streams, which never end by themselves.
    const own = new ServerClient(server.url, server.apiKey);
    const changes: string[] = [];
    let ready = 0;
    const never = new AbortController(); // not aborted: close() alone must end both streams
    const followingChanges = own.followRunChanges({
      signal: never.signal,
      onReady: () => ready++,
      onRun: (r) => changes.push(`${r.id} ${r.status}`),
    });
    await until('the stream of changes to follow', () => ready === 1 || undefined);
    const run = await own.createRun({
      agent: 'command',
      task: { kind: 'spec', prompt: 'wait', command: 'sleep 20' },
      snapshot_id: await snapshot(),
    });
    const followingEvents = own.followEvents(run.id, { afterSeq: 0, signal: never.signal, onEvent: () => undefined });
    await until('the run to be running', () => changes.includes(`${run.id} running`) || undefined);
    assert.deepEqual(
      changes.filter((c) => c.startsWith(run.id)),
      [`${run.id} queued`, `${run.id} provisioning`, `${run.id} running`],
    );
    const t0 = Date.now();
    await own.close();
    await Promise.all([followingChanges, followingEvents]);
    assert.ok(Date.now() - t0 < 2000, `closed in ${Date.now() - t0} ms`);
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

// A server newer than the extension, or one relaying a sandboxed agent's
// malformed output: events the client cannot read are skipped, reported once
// per type, and never stop the stream. The real server only sends valid
// events, so a scripted one plays this server.
describe('extension server client, events it cannot read', () => {
  let scripted: Server;
  let url: string;
  const streams = new Map<string, string[]>();
  const runs = new Map<string, Run>();
  const lastEventIds: (string | undefined)[] = [];

  before(async () => {
    scripted = createServer((req, res) => {
      const events = /^\/api\/runs\/(\w+)\/events$/.exec(req.url ?? '');
      const run = /^\/api\/runs\/(\w+)$/.exec(req.url ?? '');
      if (events && streams.has(events[1])) {
        lastEventIds.push(req.headers['last-event-id'] as string | undefined);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(streams.get(events[1])!.join(''));
      } else if (run && runs.has(run[1])) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(runs.get(run[1])));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error_code: 'RUN_NOT_FOUND', message: 'no such run' }));
      }
    });
    await new Promise<void>((resolve) => scripted.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(scripted.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => scripted.close(() => resolve())));

  const sse = (id: number, data: unknown) => `id: ${id}\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
  const ts = new Date(0).toISOString();

  async function follow(runId: string): Promise<{ seqs: number[]; skipped: SkippedEvent[]; last: number }> {
    const client = new ServerClient(url, 'key');
    const seqs: number[] = [];
    const skipped: SkippedEvent[] = [];
    try {
      const ac = new AbortController();
      // A client that kept resuming would never settle: give up after a few seconds.
      const timer = setTimeout(() => ac.abort(), 5000);
      const last = await client.followEvents(runId, {
        afterSeq: 0,
        signal: ac.signal,
        onEvent: (e) => seqs.push(e.seq),
        onSkipped: (s) => skipped.push(s),
      });
      clearTimeout(timer);
      assert.ok(!ac.signal.aborted, 'the follow ended by itself');
      return { seqs, skipped, last };
    } finally {
      await client.close();
    }
  }

  it('skipsUnknownAndMalformedEventsAndKeepsGoing', async () => {
    streams.set('mixed', [
      sse(1, { seq: 1, type: 'run.status', ts, status: 'running' }),
      sse(2, { seq: 2, type: 'agent.daydream', ts, about: 'a newer server' }),
      sse(3, { seq: 3, type: 'command.output', ts, stream: 'stdout', text: 42 }),
      sse(4, '{"seq": 4, "type": "command.output", "te'),
      sse(5, { seq: 5, type: 'agent.daydream', ts, about: 'again' }),
      sse(6, { seq: 6, type: 'command.output', ts, stream: 'stdout', text: 'still here\n' }),
      sse(7, { seq: 7, type: 'run.finished', ts, status: 'succeeded' }),
    ]);
    const { seqs, skipped, last } = await follow('mixed');
    assert.deepEqual(seqs, [1, 6, 7], 'the events that fit the contract, in order');
    assert.equal(last, 7);
    assert.deepEqual(
      skipped.map((s) => [s.seq, s.type]),
      [
        [2, 'agent.daydream'],
        [3, 'command.output'],
        [4, '(not JSON)'],
      ],
      'each kind of skip reported once: the second agent.daydream is not',
    );
    assert.match(skipped[0].reason, /does not know/);
    assert.match(skipped[1].reason, /do not match the contract/);
  });

  it('endsAtAFinishedRunsLastEventEvenWhenItCannotReadIt', async () => {
    streams.set('badEnd', [
      sse(1, { seq: 1, type: 'run.status', ts, status: 'running' }),
      sse(2, { seq: 2, type: 'run.finished', ts, status: 'exploded' }),
    ]);
    runs.set('badEnd', {
      id: 'badEnd',
      agent: 'command',
      task: { kind: 'spec', prompt: 'x', command: 'true' },
      status: 'failed',
      created_at: ts,
      updated_at: ts,
      snapshot_id: 's',
      last_seq: 2,
    });
    lastEventIds.length = 0;
    const { seqs, skipped, last } = await follow('badEnd');
    assert.deepEqual(seqs, [1]);
    assert.deepEqual(
      skipped.map((s) => s.seq),
      [2],
    );
    assert.equal(last, 2, 'the skipped event counts as read: the run is over, nothing to resume');
    assert.deepEqual(lastEventIds, ['0'], 'one request: the client did not ask for the skipped event again');
  });
});
