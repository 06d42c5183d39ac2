// The run lifecycle end to end over real HTTP and real bubblewrap, with the
// command agent: snapshot in, live events, resume, replay, diff out, cancel,
// follow-up, crash and restart.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { ApiClient } from '../helpers/apiClient';
import { readSse, STOP } from '../helpers/sseReader';
import { makeTree, readRunEvents, sha256, uploadStream, uploadTree, waitForRun, type SseEvent } from '../helpers/runHelpers';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

const ORIGINAL = {
  'src/a.txt': 'line 1\nline 2\nline 3\n',
  'old.txt': 'goodbye\n',
  'move-me.txt': 'a file that will be renamed\nwith enough lines\nto be recognised\nas the same file\n',
  'img.bin': Buffer.from([0, 1, 2, 3, 255]),
};

/** Follows the run's events until its command has printed `marker` (the command got that far). */
async function outputOf(api: ApiClient, runId: string, marker: string): Promise<void> {
  const seen = (e: SseEvent) => e.data.type === 'command.output' && e.data.text.includes(marker);
  const events = await readRunEvents(api, runId, { stopWhen: seen });
  assert.ok(events.some(seen), `the command printed ${marker}: ${JSON.stringify(events.map((e) => e.data))}`);
}

async function startCommandRun(api: ApiClient, snapshotId: string, command: string) {
  const r = await api.post('/api/runs', { agent: 'command', task: { kind: 'spec', prompt: 'test', command }, snapshot_id: snapshotId });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

describe('runs', function () {
  let server: ServerProcess;
  let api: ApiClient;
  let snapshotId: string;

  before(async () => {
    server = await startServer();
    api = new ApiClient(server.url, server.apiKey);
    const up = await uploadTree(api, makeTree(ORIGINAL));
    assert.equal(up.status, 201, JSON.stringify(up.body));
    snapshotId = up.body.snapshot_id;
  });
  after(async () => server?.dispose());

  it('acceptsASnapshotAndCountsIt', async () => {
    const up = await uploadTree(api, makeTree(ORIGINAL), true);
    assert.equal(up.status, 201, JSON.stringify(up.body));
    assert.equal(up.body.files, 4);
    assert.equal(
      up.body.bytes,
      Object.values(ORIGINAL).reduce((n, c) => n + Buffer.byteLength(c), 0),
    );
  });

  it('runsACommandAndReturnsTheDiffWithBaseHashes', async () => {
    const run = await startCommandRun(
      api,
      snapshotId,
      "sed -i 's/line 2/line two/' src/a.txt && rm old.txt && mv move-me.txt moved.txt && printf 'x' >> moved.txt && printf '\\x00\\x09' > img.bin && echo hi > added.txt && chmod +x src/a.txt",
    );
    assert.ok(['queued', 'provisioning'].includes(run.status), run.status);
    const done = await waitForRun(api, run.id, ['succeeded', 'failed']);
    assert.equal(done.status, 'succeeded', done.error);
    assert.ok(done.session_id);
    const diff = await api.get(`/api/runs/${run.id}/diff`);
    assert.equal(diff.status, 200);
    const byPath = new Map<string, any>(diff.body.files.map((f: any) => [f.path, f]));
    const a = byPath.get('src/a.txt');
    assert.equal(a.status, 'modified');
    assert.match(a.patch, /-line 2\n\+line two/);
    assert.equal(a.base_sha256, sha256(ORIGINAL['src/a.txt']));
    assert.equal(a.new_mode, '100755');
    assert.equal(byPath.get('old.txt').status, 'deleted');
    assert.equal(byPath.get('old.txt').base_sha256, sha256(ORIGINAL['old.txt']));
    const moved = byPath.get('moved.txt');
    assert.equal(moved.status, 'renamed');
    assert.equal(moved.old_path, 'move-me.txt');
    assert.equal(moved.base_sha256, sha256(ORIGINAL['move-me.txt']));
    assert.equal(byPath.get('img.bin').binary, true);
    assert.equal(byPath.get('added.txt').status, 'added');
    assert.equal(byPath.get('added.txt').base_sha256, undefined);
    assert.equal(
      diff.body.files.some((f: any) => f.path.includes('astraforge')),
      false,
      'the baseline repo is not part of the diff',
    );
  });

  it('streamsOutputLiveAndEndsWithRunFinished', async () => {
    const run = await startCommandRun(api, snapshotId, 'echo one; sleep 0.7; echo two');
    const events = await readRunEvents(api, run.id);
    const types = events.map((e) => e.data.type);
    assert.equal(types[0], 'run.created');
    assert.equal(types[types.length - 1], 'run.finished');
    assert.equal(events[events.length - 1].data.status, 'succeeded');
    const one = events.find((e) => e.data.type === 'command.output' && e.data.text.includes('one'))!;
    const two = events.find((e) => e.data.type === 'command.output' && e.data.text.includes('two'))!;
    assert.ok(two.at - one.at >= 500, `output was not streamed as written (${two.at - one.at} ms apart)`);
    for (const [i, e] of events.entries()) {
      assert.equal(e.data.seq, i + 1, 'seq increases by one');
      assert.equal(e.id, String(e.data.seq), 'the SSE id is the seq');
      assert.equal(typeof e.data.ts, 'string');
    }
  });

  it('announcesEachRunAsItIsCreatedAndAsItsStatusChanges', async () => {
    // Another window (or an alert) starts a run: a client following the changes learns of it and of its end.
    const seen: { id: string; status: string }[] = [];
    const started: { runId?: string } = {};
    let ready: () => void;
    const following = new Promise<void>((r) => (ready = r));
    const reading = readSse({ url: `${server.url}/api/runs/changes`, headers: { authorization: `Bearer ${server.apiKey}` } }, (m) => {
      if (m.event === 'ready') return void ready();
      assert.equal(m.event, 'run');
      const run = JSON.parse(m.data);
      seen.push({ id: run.id, status: run.status });
      if (run.id === started.runId && run.status === 'succeeded') return STOP;
    });
    await following;
    started.runId = (await startCommandRun(api, snapshotId, 'echo elsewhere')).id;
    await reading;
    const statuses = seen.filter((s) => s.id === started.runId).map((s) => s.status);
    assert.deepEqual(statuses, ['queued', 'provisioning', 'running', 'succeeded'], JSON.stringify(seen));
  });

  it('resumesAfterLastEventIdWithNothingLostOrRepeated', async () => {
    const run = await startCommandRun(api, snapshotId, 'for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.15; done');
    const first = await readRunEvents(api, run.id, { stopWhen: (_, all) => all.length === 4 });
    assert.equal(first.length, 4);
    const last = Number(first[first.length - 1].id);
    const rest = await readRunEvents(api, run.id, { lastEventId: last });
    const all = [...first, ...rest].map((e) => e.data.seq);
    assert.deepEqual(
      all,
      Array.from({ length: all.length }, (_, i) => i + 1),
    );
    assert.equal(rest[rest.length - 1].data.type, 'run.finished');
    const text = [...first, ...rest]
      .filter((e) => e.data.type === 'command.output')
      .map((e) => e.data.text)
      .join('');
    assert.equal(text, [1, 2, 3, 4, 5, 6].map((i) => `tick ${i}\n`).join(''));
  });

  it('replaysAFinishedRunWholeThenEnds', async () => {
    const run = await startCommandRun(api, snapshotId, 'echo replay-me');
    await waitForRun(api, run.id, ['succeeded']);
    const a = await readRunEvents(api, run.id);
    const b = await readRunEvents(api, run.id);
    assert.deepEqual(
      a.map((e) => e.data),
      b.map((e) => e.data),
    );
    assert.equal(a[a.length - 1].data.type, 'run.finished');
    const tail = await readRunEvents(api, run.id, { lastEventId: a.length - 2 });
    assert.deepEqual(
      tail.map((e) => e.data.seq),
      [a.length - 1, a.length],
    );
  });

  it('failsTheRunWhenTheCommandFails', async () => {
    const run = await startCommandRun(api, snapshotId, 'echo partial > partial.txt; exit 3');
    const done = await waitForRun(api, run.id, ['succeeded', 'failed']);
    assert.equal(done.status, 'failed');
    assert.match(done.error, /exited with 3/);
    const diff = await api.get(`/api/runs/${run.id}/diff`);
    assert.ok(diff.body.files.some((f: any) => f.path === 'partial.txt'));
  });

  it('cancelsARunKeepingTheDiffSoFar', async () => {
    const run = await startCommandRun(api, snapshotId, 'echo early > early.txt; echo early-written; sleep 60');
    await outputOf(api, run.id, 'early-written');
    const c = await api.post(`/api/runs/${run.id}/cancel`);
    assert.equal(c.status, 202);
    const done = await waitForRun(api, run.id, ['cancelled', 'failed', 'succeeded'], 10_000);
    assert.equal(done.status, 'cancelled');
    const events = await readRunEvents(api, run.id);
    assert.equal(events[events.length - 1].data.type, 'run.finished');
    assert.equal(events[events.length - 1].data.status, 'cancelled');
    const diff = await api.get(`/api/runs/${run.id}/diff`);
    assert.ok(diff.body.files.some((f: any) => f.path === 'early.txt'));
    const ps = await api.exec(done.session_id, 'ps -eo args | grep "^sleep 60" || true');
    assert.equal(ps.body.output, '', "the agent's processes are killed");
  });

  it('letsTheSandboxApiInspectARunningRunsSession', async () => {
    const run = await startCommandRun(api, snapshotId, 'echo marker > marker.txt; echo marker-written; sleep 2');
    await outputOf(api, run.id, 'marker-written');
    const running = (await api.get(`/api/runs/${run.id}`)).body;
    assert.equal(running.status, 'running');
    const info = await api.get(`/v1/sessions/${running.session_id}`);
    assert.equal(info.status, 200);
    assert.equal(info.body.status, 'running', 'the run holds its session open');
    const look = await api.exec(running.session_id, 'cat src/a.txt marker.txt');
    assert.equal(look.body.output, `${ORIGINAL['src/a.txt']}marker\n`);
    await waitForRun(api, run.id, ['succeeded']);
  });

  it('runsAFollowUpInTheSameSandboxAndRecomputesTheDiff', async () => {
    const run = await startCommandRun(api, snapshotId, 'echo first > f1.txt');
    await waitForRun(api, run.id, ['succeeded']);
    const fu = await api.post(`/api/runs/${run.id}/messages`, { command: 'echo second > f2.txt; cat f1.txt' });
    assert.equal(fu.status, 202, JSON.stringify(fu.body));
    const events = await readRunEvents(api, run.id);
    const finishes = events.filter((e) => e.data.type === 'run.finished');
    assert.equal(finishes.length, 2, 'one run.finished per turn');
    assert.ok(
      events.some((e) => e.data.type === 'command.output' && e.data.text === 'first\n'),
      'same sandbox: f1.txt is still there',
    );
    const diff = await api.get(`/api/runs/${run.id}/diff`);
    const paths = diff.body.files.map((f: any) => f.path).sort();
    assert.deepEqual(paths, ['f1.txt', 'f2.txt']);
  });

  it('listsRunsNewestFirstWithPages', async () => {
    const mine: string[] = [];
    for (let i = 0; i < 3; i++) mine.push((await startCommandRun(api, snapshotId, 'true')).id);
    for (const id of mine) await waitForRun(api, id, ['succeeded']);
    const page1 = await api.get('/api/runs?limit=2');
    assert.equal(page1.status, 200);
    assert.equal(page1.body.runs.length, 2);
    assert.ok(page1.body.next_cursor);
    const all = [...page1.body.runs];
    for (let cursor = page1.body.next_cursor; cursor;) {
      const page = await api.get(`/api/runs?limit=2&cursor=${encodeURIComponent(cursor)}`);
      assert.ok(page.body.runs.length <= 2);
      all.push(...page.body.runs);
      cursor = page.body.next_cursor;
    }
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].created_at >= all[i].created_at);
    const ids = all.map((r: any) => r.id);
    assert.equal(new Set(ids).size, ids.length, 'no run on two pages');
    assert.deepEqual(
      ids.filter((id: string) => mine.includes(id)),
      [...mine].reverse(),
      'the newest first, every one of them',
    );
  });

  it('refusesBadRunRequestsClearly', async () => {
    const noAgent = await api.post('/api/runs', { agent: 'codex', task: { kind: 'spec', prompt: 'x' }, snapshot_id: snapshotId });
    assert.equal(noAgent.status, 400);
    assert.match(noAgent.body.message, /codex.*not available/);
    const runsBefore = (await api.get('/api/runs?limit=100')).body.runs.length;
    const noCommand = await api.post('/api/runs', { agent: 'command', task: { kind: 'spec', prompt: 'x' }, snapshot_id: snapshotId });
    assert.equal(noCommand.status, 400);
    assert.equal(noCommand.body.error_code, 'INVALID_REQUEST');
    assert.match(noCommand.body.message, /command/);
    const noSnap = await api.post('/api/runs', {
      agent: 'command',
      task: { kind: 'spec', prompt: 'x', command: 'true' },
      snapshot_id: 'nope',
    });
    assert.equal(noSnap.status, 400);
    assert.match(noSnap.body.message, /snapshot/);
    assert.equal((await api.get('/api/runs?limit=100')).body.runs.length, runsBefore, 'no refused request created a run');
    const missing = await api.get('/api/runs/doesnotexist');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error_code, 'RUN_NOT_FOUND');
  });

  it('refusesHostileArchives', async () => {
    const py = (script: string) => execFileSync('python3', ['-c', script]);
    const traversal = py(
      "import tarfile,io,sys\nb=io.BytesIO()\nt=tarfile.open(fileobj=b,mode='w')\ni=tarfile.TarInfo('../escape.txt');d=b'x';i.size=1\nt.addfile(i,io.BytesIO(d))\nt.close();sys.stdout.buffer.write(b.getvalue())",
    );
    const linkOut = py(
      "import tarfile,io,sys\nb=io.BytesIO()\nt=tarfile.open(fileobj=b,mode='w')\ni=tarfile.TarInfo('etc');i.type=tarfile.SYMTYPE;i.linkname='/etc'\nt.addfile(i)\nt.close();sys.stdout.buffer.write(b.getvalue())",
    );
    const device = py(
      "import tarfile,io,sys\nb=io.BytesIO()\nt=tarfile.open(fileobj=b,mode='w')\ni=tarfile.TarInfo('null');i.type=tarfile.CHRTYPE;i.devmajor=1;i.devminor=3\nt.addfile(i)\nt.close();sys.stdout.buffer.write(b.getvalue())",
    );
    for (const [name, body] of [
      ['traversal', traversal],
      ['symlink out', linkOut],
      ['device', device],
      ['garbage', Buffer.from('this is not a tar archive at all, just text'.repeat(20))],
    ] as const) {
      const r = await uploadStream(api, body, 'application/x-tar');
      assert.equal(r.status, 400, `${name}: ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error_code, 'INVALID_REQUEST');
    }
    const wrongType = await api.call('POST', '/api/snapshots', undefined, { raw: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.body.error_code, 'INVALID_REQUEST');
  });
});

describe('runs across a crash', function () {
  it('interruptsTheRunInFlightAndKeepsFinishedOnesIntact', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'af-runcrash-'));
    try {
      const first = await startServer({ dataDir });
      const api1 = new ApiClient(first.url, first.apiKey);
      const snap = (await uploadTree(api1, makeTree({ 'x.txt': 'x\n' }))).body.snapshot_id;
      const finished = await startCommandRun(api1, snap, 'echo changed > x.txt');
      await waitForRun(api1, finished.id, ['succeeded']);
      const finishedEvents = await readRunEvents(api1, finished.id);
      const finishedDiff = (await api1.get(`/api/runs/${finished.id}/diff`)).body;
      const inflight = await startCommandRun(api1, snap, 'echo working; sleep 60');
      await waitForRun(api1, inflight.id, ['running']);
      await first.kill();

      const second = await startServer({ dataDir });
      try {
        const api2 = new ApiClient(second.url, second.apiKey);
        const run = (await api2.get(`/api/runs/${inflight.id}`)).body;
        assert.equal(run.status, 'interrupted');
        const events = await readRunEvents(api2, inflight.id);
        assert.equal(events[events.length - 1].data.type, 'run.finished');
        assert.equal(events[events.length - 1].data.status, 'interrupted');
        const seqs = events.map((e) => e.data.seq);
        assert.deepEqual(
          seqs,
          Array.from({ length: seqs.length }, (_, i) => i + 1),
        );
        assert.deepEqual(
          (await readRunEvents(api2, finished.id)).map((e) => e.data),
          finishedEvents.map((e) => e.data),
        );
        assert.deepEqual((await api2.get(`/api/runs/${finished.id}/diff`)).body, finishedDiff);
        const sessions = (await api2.get('/v1/sessions')).body;
        assert.ok(sessions.filter((s: any) => s.status === 'running').length === 0, 'no sandbox survived');
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('stopsARunAtItsTimeLimitAndKeepsIdleStreamsAliveWithHeartbeats', async () => {
    const server = await startServer({ config: { runs: { maxSeconds: 1 }, sseHeartbeatMs: 200 } });
    try {
      const api = new ApiClient(server.url, server.apiKey);
      const snap = (await uploadTree(api, makeTree({ 'x.txt': 'x\n' }))).body.snapshot_id;
      const run = await startCommandRun(api, snap, 'echo started; sleep 30');
      // a raw read of the stream, to see the comment lines an SSE parser hides
      const res = await request(`${server.url}/api/runs/${run.id}/events`, { headers: { authorization: `Bearer ${server.apiKey}` } });
      const raw = await res.body.text();
      assert.ok((raw.match(/^: keep-alive$/gm) ?? []).length >= 2, 'heartbeats while the command is silent');
      const done = (await api.get(`/api/runs/${run.id}`)).body;
      assert.equal(done.status, 'failed');
      assert.match(done.error, /exceeded its 1 s limit/);
      const ps = await api.exec(done.session_id, 'ps -eo args | grep "^sleep 30" || true');
      assert.equal(ps.body.output, '');
    } finally {
      await server.dispose();
    }
  });

  it('queuesRunsBeyondTheConcurrencyLimit', async () => {
    const server = await startServer({ config: { runs: { maxConcurrent: 1 } } });
    try {
      const api = new ApiClient(server.url, server.apiKey);
      const snap = (await uploadTree(api, makeTree({ 'x.txt': 'x\n' }))).body.snapshot_id;
      const a = await startCommandRun(api, snap, 'sleep 1.5');
      const b = await startCommandRun(api, snap, 'true');
      await waitForRun(api, a.id, ['running']);
      assert.equal((await api.get(`/api/runs/${b.id}`)).body.status, 'queued');
      await waitForRun(api, b.id, ['succeeded'], 20_000);
      assert.equal((await api.get(`/api/runs/${a.id}`)).body.status, 'succeeded');
    } finally {
      await server.dispose();
    }
  });
});
