// The Sandkasten-compatible sandbox API, endpoint by endpoint, over real HTTP
// and real bubblewrap sandboxes.
import assert from 'node:assert/strict';
import { FormData, request } from 'undici';
import { ApiClient } from '../helpers/apiClient';
import { accepts, externalIPv4Addresses, listeningSocketsOf } from '../helpers/listeningSockets';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { until } from '../helpers/until';

describe('sandbox API contract', function () {
  let server: ServerProcess;
  let api: ApiClient;
  let sid: string;

  before(async () => {
    server = await startServer();
    api = new ApiClient(server.url, server.apiKey);
    sid = await api.createSession();
  });
  after(async () => server?.dispose());

  describe('health and auth', () => {
    it('answersHealthzWithoutAuth', async () => {
      const res = await request(`${server.url}/healthz`);
      assert.equal(res.statusCode, 200);
      assert.deepEqual(await res.body.json(), { ok: true });
    });

    it('refusesRequestsWithoutOrWithWrongKey', async () => {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${server.apiKey}` }]) {
        const res = await request(`${server.url}/v1/sessions`, { headers });
        assert.equal(res.statusCode, 401);
        const body = (await res.body.json()) as any;
        assert.equal(body.error_code, 'UNAUTHORIZED');
        assert.match(body.message, /API key/);
      }
    });

    it('acceptsXApiKeyHeaderAsWellAsBearer', async () => {
      const res = await request(`${server.url}/v1/sessions`, { headers: { 'x-api-key': server.apiKey } });
      assert.equal(res.statusCode, 200);
      const sessions = (await res.body.json()) as any[];
      assert.ok(
        sessions.some((s) => s.id === sid),
        'the same session list as with Bearer',
      );
    });

    it('bindsToLoopbackByDefault', async () => {
      // What the kernel says the process listens on, not the address it printed.
      const port = Number(new URL(server.url).port);
      const sockets = listeningSocketsOf(server.child.pid!);
      assert.ok(
        sockets.some((s) => s.port === port),
        `the API's port ${port} is among ${JSON.stringify(sockets)}`,
      );
      for (const s of sockets) assert.ok(s.loopback, `listens on ${s.address}:${s.port}`);
      // And from this machine's other addresses, nothing answers.
      for (const address of externalIPv4Addresses()) assert.equal(await accepts(address, port), false, `${address}:${port} accepted`);
    });
  });

  describe('sessions', () => {
    it('createsASessionWithTheContractFields', async () => {
      const r = await api.post('/v1/sessions', { ttl_seconds: 120 });
      assert.equal(r.status, 201);
      assert.equal(typeof r.body.id, 'string');
      assert.equal(r.body.image, 'default');
      assert.equal(r.body.status, 'running');
      assert.equal(r.body.cwd, '/workspace');
      assert.ok(Date.parse(r.body.created_at) <= Date.parse(r.body.expires_at));
      const ttl = (Date.parse(r.body.expires_at) - Date.parse(r.body.created_at)) / 1000;
      assert.ok(ttl > 115 && ttl <= 121, `ttl ${ttl}`);
      await api.delete(`/v1/sessions/${r.body.id}`);
    });

    it('listsAndGetsSessions', async () => {
      const list = await api.get('/v1/sessions');
      assert.equal(list.status, 200);
      assert.ok(Array.isArray(list.body));
      assert.ok(list.body.some((s: any) => s.id === sid));
      const one = await api.get(`/v1/sessions/${sid}`);
      assert.equal(one.status, 200);
      assert.equal(one.body.id, sid);
    });

    it('reportsStatsFromTheSandboxRealUsage', async () => {
      const before = await api.get(`/v1/sessions/${sid}/stats`);
      assert.equal(before.status, 200);
      assert.equal(typeof before.body.memory_bytes, 'number');
      assert.equal(typeof before.body.cpu_usage_usec, 'number');
      // Burn CPU and hold memory inside the sandbox; the figures must move. The loop counts the
      // process's own CPU time, not the clock's, so a loaded machine cannot shorten what it burns.
      await api.exec(sid, 'python3 -c "x=bytearray(64*1024*1024); import time\nwhile time.process_time()<0.5: pass" ');
      const after = await api.get(`/v1/sessions/${sid}/stats`);
      assert.ok(after.body.cpu_usage_usec - before.body.cpu_usage_usec >= 200_000, JSON.stringify([before.body, after.body]));
      if (after.body.memory_limit !== undefined) assert.ok(after.body.memory_limit >= 64 * 1024 * 1024);
    });

    it('answersSessionNotFoundFor404', async () => {
      for (const [method, path] of [
        ['GET', '/v1/sessions/nope'],
        ['GET', '/v1/sessions/nope/stats'],
        ['POST', '/v1/sessions/nope/exec'],
        ['DELETE', '/v1/sessions/nope'],
        ['GET', '/v1/sessions/nope/fs/read?path=a'],
      ]) {
        const r = await api.call(method, path, method === 'POST' ? { cmd: 'true' } : undefined);
        assert.equal(r.status, 404, `${method} ${path}`);
        assert.equal(r.body.error_code, 'SESSION_NOT_FOUND');
      }
    });

    it('refusesUnknownImagesWithInvalidImage', async () => {
      const before = (await api.get('/v1/sessions')).body.length;
      const r = await api.post('/v1/sessions', { image: 'no-such-image:1' });
      assert.equal(r.status, 400);
      assert.equal(r.body.error_code, 'INVALID_IMAGE');
      assert.equal((await api.get('/v1/sessions')).body.length, before, 'no session was created');
    });

    it('destroysASessionAndEverythingInIt', async () => {
      const id = await api.createSession();
      await api.exec(id, 'sleep 300 >/dev/null 2>&1 &');
      const del = await api.delete(`/v1/sessions/${id}`);
      assert.equal(del.status, 200);
      assert.deepEqual(del.body, { ok: true });
      const gone = await api.get(`/v1/sessions/${id}`);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.error_code, 'SESSION_NOT_FOUND');
    });
  });

  describe('exec', () => {
    it('runsACommandAndReturnsTheContractFields', async () => {
      const r = await api.exec(sid, 'echo hello; echo oops >&2; exit 3');
      assert.equal(r.status, 200);
      assert.equal(r.body.exit_code, 3);
      assert.equal(r.body.output, 'hello\noops\n');
      assert.equal(r.body.truncated, false);
      assert.equal(typeof r.body.duration_ms, 'number');
      assert.equal(r.body.cwd, '/workspace');
    });

    it('keepsCwdAndExportedVariablesBetweenCalls', async () => {
      const id = await api.createSession();
      await api.exec(id, 'mkdir -p deep/er && cd deep/er && export GREETING="hi there" && MYVAR=local');
      const r = await api.exec(id, 'pwd; echo "$GREETING"');
      assert.equal(r.body.output, '/workspace/deep/er\nhi there\n');
      assert.equal(r.body.cwd, '/workspace/deep/er');
      assert.equal((await api.get(`/v1/sessions/${id}`)).body.cwd, '/workspace/deep/er');
      await api.delete(`/v1/sessions/${id}`);
    });

    it('keepsBackgroundProcessesRunning', async () => {
      const id = await api.createSession();
      await api.exec(id, 'sleep 300 & echo $! > /tmp/bg.pid');
      const r = await api.exec(id, 'kill -0 "$(cat /tmp/bg.pid)" && echo alive');
      assert.equal(r.body.output, 'alive\n');
      await api.delete(`/v1/sessions/${id}`);
    });

    it('keepsABackgroundServerThatWritesOutput', async () => {
      const id = await api.createSession();
      // The background writer outlives the command that started it; it must not die of SIGPIPE.
      // It counts its writes in a file, so the test sees it keep writing once its command has returned.
      await api.exec(id, '(while true; do echo tick; echo tick >> /tmp/ticks; sleep 0.05; done) & echo $! > /tmp/w.pid');
      const ticks = async () => Number((await api.exec(id, 'wc -l < /tmp/ticks')).body.output);
      const returnedAt = await ticks();
      await until('the writer to write on after its command returned', async () => (await ticks()) >= returnedAt + 3, { timeoutMs: 5000 });
      const r = await api.exec(id, 'kill -0 "$(cat /tmp/w.pid)" && echo alive');
      assert.equal(r.body.output, 'alive\n');
      await api.delete(`/v1/sessions/${id}`);
    });

    it('timesOutWith504AndKillsTheWholeTree', async () => {
      const id = await api.createSession();
      const r = await api.exec(id, 'sleep 301 & setsid sleep 302 & (sleep 303 &) ; sleep 304', 400);
      assert.equal(r.status, 504);
      assert.equal(r.body.error_code, 'COMMAND_TIMEOUT');
      const ps = await api.exec(id, 'ps -eo args | grep "^sleep 30" || true');
      assert.equal(ps.status, 200);
      assert.equal(ps.body.output, '', `left running: ${ps.body.output}`);
      // and the session still works, with its state
      const again = await api.exec(id, 'echo still-here');
      assert.equal(again.body.output, 'still-here\n');
      await api.delete(`/v1/sessions/${id}`);
    });

    it('capsOutputAndSaysTruncated', async () => {
      const r = await api.exec(sid, 'head -c 7000000 /dev/zero | tr "\\0" a');
      assert.equal(r.status, 200);
      assert.equal(r.body.truncated, true);
      assert.equal(r.body.output.length, 5 * 1024 * 1024);
    });

    it('refusesMalformedAndMistypedRequests', async () => {
      const cases: [string | undefined, unknown][] = [
        ['{not json', undefined],
        [undefined, { cmd: 5 }],
        [undefined, { cmd: '' }],
        [undefined, { cmd: 'true', timeout_ms: -1 }],
        [undefined, { cmd: 'true', timeout_ms: 'soon' }],
        [undefined, { nope: 1 }],
        [undefined, []],
      ];
      for (const [raw, body] of cases) {
        const r = await api.call(
          'POST',
          `/v1/sessions/${sid}/exec`,
          body,
          raw ? { raw, headers: { 'content-type': 'application/json' } } : {},
        );
        assert.equal(r.status, 400, `${raw ?? JSON.stringify(body)} -> ${r.status} ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error_code, 'INVALID_REQUEST');
        assert.equal(typeof r.body.message, 'string');
      }
    });

    it('refusesHugeBodiesWithAnEnvelope', async () => {
      const r = await api.post(`/v1/sessions/${sid}/exec`, { cmd: 'x'.repeat(3 * 1024 * 1024) });
      assert.equal(r.status, 413);
      assert.equal(r.body.error_code, 'PAYLOAD_TOO_LARGE');
      assert.equal((await api.exec(sid, 'echo ok')).body.output, 'ok\n');
    });
  });

  describe('exec/stream', () => {
    it('streamsChunksAsTheyAreWritten', async () => {
      const events = await api.sse(`/v1/sessions/${sid}/exec/stream`, { cmd: 'echo first; sleep 0.6; echo second' });
      const chunks = events.filter((e) => e.event === 'chunk');
      const done = events.find((e) => e.event === 'done');
      assert.ok(done, 'a done event');
      assert.equal(chunks.map((c) => JSON.parse(c.data).chunk).join(''), 'first\nsecond\n');
      const first = chunks.find((c) => JSON.parse(c.data).chunk.includes('first'))!;
      assert.ok(done.at - first.at >= 400, `first chunk came ${done.at - first.at} ms before done: not incremental`);
      assert.equal(typeof JSON.parse(first.data).timestamp, 'number');
      const d = JSON.parse(done.data);
      assert.equal(d.exit_code, 0);
      assert.equal(d.cwd, '/workspace');
      assert.equal(typeof d.duration_ms, 'number');
    });

    it('sendsAnErrorEventOnTimeout', async () => {
      const events = await api.sse(`/v1/sessions/${sid}/exec/stream`, { cmd: 'echo a; sleep 30', timeout_ms: 300 });
      const err = events.find((e) => e.event === 'error');
      assert.ok(err, JSON.stringify(events));
      assert.match(JSON.parse(err.data).error, /timed out/);
    });

    it('killsTheCommandWhenTheClientGoesAway', async () => {
      const id = await api.createSession();
      const ac = new AbortController();
      const res = await request(`${server.url}/v1/sessions/${id}/exec/stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ cmd: 'echo started; sleep 305' }),
        signal: ac.signal,
      });
      for await (const chunk of res.body) if (chunk.toString().includes('started')) break;
      ac.abort();
      await until(
        'the command to be killed',
        async () => (await api.exec(id, 'ps -eo args | grep "^sleep 305" || true')).body.output === '',
        { timeoutMs: 5000 },
      );
      await api.delete(`/v1/sessions/${id}`);
    });

    it('answers404BeforeOpeningAStream', async () => {
      await assert.rejects(api.sse('/v1/sessions/nope/exec/stream', { cmd: 'true' }), (e: any) => e.status === 404);
    });
  });

  describe('files', () => {
    it('writesTextAndBase64AndReadsBack', async () => {
      assert.deepEqual((await api.post(`/v1/sessions/${sid}/fs/write`, { path: 'dir/a.txt', text: 'héllo\n' })).body, { ok: true });
      const bin = Buffer.from([0, 1, 2, 255, 254]);
      assert.deepEqual(
        (await api.post(`/v1/sessions/${sid}/fs/write`, { path: '/workspace/dir/b.bin', content_base64: bin.toString('base64') })).body,
        { ok: true },
      );
      const a = await api.get(`/v1/sessions/${sid}/fs/read?path=dir/a.txt`);
      assert.deepEqual(a.body, {
        path: '/workspace/dir/a.txt',
        content_base64: Buffer.from('héllo\n').toString('base64'),
        truncated: false,
      });
      const b = await api.get(`/v1/sessions/${sid}/fs/read?path=dir/b.bin`);
      assert.deepEqual(Buffer.from(b.body.content_base64, 'base64'), bin);
      // the shell sees the same files
      assert.equal((await api.exec(sid, 'cat dir/a.txt')).body.output, 'héllo\n');
    });

    it('truncatesReadsAtMaxBytes', async () => {
      await api.post(`/v1/sessions/${sid}/fs/write`, { path: 'ten.txt', text: '0123456789' });
      const r = await api.get(`/v1/sessions/${sid}/fs/read?path=ten.txt&max_bytes=4`);
      assert.equal(Buffer.from(r.body.content_base64, 'base64').toString(), '0123');
      assert.equal(r.body.truncated, true);
    });

    it('uploadsMultipartFilesIntoAFolder', async () => {
      const form = new FormData();
      form.append('path', 'up');
      form.append('files', new Blob(['one']), 'one.txt');
      form.append('files', new Blob(['two']), 'two.txt');
      const res = await request(`${server.url}/v1/sessions/${sid}/fs/upload`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}` },
        body: form,
      });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(await res.body.json(), { ok: true, paths: ['/workspace/up/one.txt', '/workspace/up/two.txt'] });
      assert.equal((await api.exec(sid, 'cat up/one.txt up/two.txt')).body.output, 'onetwo');
    });

    it('refusesPathsThatLeaveTheWorkspace', async () => {
      await api.exec(
        sid,
        'ln -sfn /etc /workspace/etc-link; ln -sfn /etc/passwd /workspace/passwd-link; ln -sfn ../../etc/hostname /workspace/rel-link',
      );
      const reads = ['../etc/passwd', '/etc/passwd', '/workspace/../etc/passwd', 'etc-link/passwd', 'passwd-link', 'rel-link', 'a/../../b'];
      for (const p of reads) {
        const r = await api.get(`/v1/sessions/${sid}/fs/read?path=${encodeURIComponent(p)}`);
        assert.equal(r.status, 400, `read ${p}: ${r.status}`);
        assert.equal(r.body.error_code, 'INVALID_REQUEST');
      }
      for (const p of ['../x', '/etc/x', 'etc-link/x', '/tmp/x']) {
        const r = await api.post(`/v1/sessions/${sid}/fs/write`, { path: p, text: 'x' });
        assert.equal(r.status, 400, `write ${p}: ${r.status}`);
        assert.equal(r.body.error_code, 'INVALID_REQUEST');
      }
      const written = await api.exec(sid, 'ls -d /x /etc/x /tmp/x 2>/dev/null; echo listed');
      assert.equal(written.body.output, 'listed\n', 'none of the refused writes landed');
    });

    it('readsThroughSymlinksThatStayInside', async () => {
      await api.exec(sid, 'mkdir -p real && echo inside > real/f && ln -sfn real alias');
      const r = await api.get(`/v1/sessions/${sid}/fs/read?path=alias/f`);
      assert.equal(r.status, 200);
      assert.equal(Buffer.from(r.body.content_base64, 'base64').toString(), 'inside\n');
    });

    it('answersInvalidRequestForMissingFilesAndBadBodies', async () => {
      const missing = await api.get(`/v1/sessions/${sid}/fs/read?path=nope.txt`);
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error_code, 'INVALID_REQUEST');
      const noPath = await api.get(`/v1/sessions/${sid}/fs/read`);
      assert.equal(noPath.status, 400);
      assert.equal(noPath.body.error_code, 'INVALID_REQUEST');
      const badB64 = await api.post(`/v1/sessions/${sid}/fs/write`, { path: 'bad-body', content_base64: '%%%' });
      assert.equal(badB64.status, 400);
      assert.equal(badB64.body.error_code, 'INVALID_REQUEST');
      const neither = await api.post(`/v1/sessions/${sid}/fs/write`, { path: 'bad-body' });
      assert.equal(neither.status, 400);
      assert.equal(neither.body.error_code, 'INVALID_REQUEST');
      assert.equal((await api.exec(sid, 'test -e bad-body || echo absent')).body.output, 'absent\n', 'a refused write writes nothing');
    });
  });

  describe('openapi', () => {
    it('servesTheDocumentGeneratedFromTheSchemas', async () => {
      const r = await api.get('/api/openapi.json');
      assert.equal(r.status, 200);
      assert.match(r.body.openapi, /^3\./);
      for (const p of [
        '/v1/sessions',
        '/v1/sessions/{id}',
        '/v1/sessions/{id}/exec',
        '/v1/sessions/{id}/exec/stream',
        '/v1/sessions/{id}/fs/write',
        '/v1/sessions/{id}/fs/read',
        '/v1/sessions/{id}/fs/upload',
        '/v1/sessions/{id}/stats',
        '/v1/workspaces',
        '/v1/workspaces/{id}',
      ]) {
        assert.ok(r.body.paths[p], `missing ${p}`);
      }
      const exec = r.body.paths['/v1/sessions/{id}/exec'].post;
      const schema = exec.requestBody.content['application/json'].schema;
      assert.deepEqual(schema.required, ['cmd']);
      assert.ok(exec.responses['504'], 'documents the timeout');
    });
  });
});
