// The AstraForge toolkit API, method by method of the `astraforge-toolkit`
// client's DeepAgentClient, answered as upstream's views answer: X-Api-Key
// auth, trailing-slash paths, the status codes the client checks, {detail}
// errors, the fields it reads, and SSE `data:` chunks {tokens, messages,
// tool_events}. SandboxBackend's calls are in toolkitSandboxBackend.test.ts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createParser } from 'eventsource-parser';
import { request } from 'undici';
import { startScriptedModel, type ScriptedModel } from '../helpers/scriptedModel';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { fetchAnswer, toolkitCaller } from '../helpers/toolkitClient';

/** Every field of upstream's SandboxSessionSerializer. */
const SESSION_FIELDS = [
  'id',
  'mode',
  'image',
  'cpu',
  'memory',
  'ephemeral_storage',
  'restore_snapshot_id',
  'status',
  'ref',
  'control_endpoint',
  'workspace_path',
  'artifact_base_url',
  'workspace_uid',
  'workspace_name',
  'idle_timeout_sec',
  'max_lifetime_sec',
  'last_activity_at',
  'last_heartbeat_at',
  'expires_at',
  'error_message',
  'metadata',
  'cpu_seconds',
  'storage_bytes',
  'snapshot_ids',
  'artifacts_count',
  'created_at',
  'updated_at',
];

describe('toolkit API: DeepAgentClient', function () {
  this.timeout(60_000);
  let model: ScriptedModel;
  let server: ServerProcess;
  const call = toolkitCaller(() => server);
  const newSession = async (json: unknown = {}) => {
    const res = await call('POST', '/sandbox/sessions/', { json });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  };

  before(async () => {
    model = await startScriptedModel([]);
    server = await startServer({ env: { ASTRAFORGE_MODEL_BASE_URL: model.baseUrl, ASTRAFORGE_MODEL_API_KEY: 'sk-real' } });
  });
  after(async () => {
    await server?.dispose();
    await model?.close();
  });

  it('createSandboxSessionAnswers201WithUpstreamsFields', async () => {
    const res = await call('POST', '/sandbox/sessions/', {
      json: {
        mode: 'docker',
        image: 'python',
        cpu: '500m',
        memory: '512Mi',
        idle_timeout_sec: 600,
        max_lifetime_sec: 3600,
        metadata: { owner: 'tests' },
      },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const s = res.body;
    for (const f of SESSION_FIELDS) assert.ok(f in s, `the session lacks ${f}`);
    assert.equal(res.headers.location, s.id);
    assert.deepEqual(
      [s.status, s.mode, s.image, s.cpu, s.memory, s.workspace_path, s.idle_timeout_sec, s.max_lifetime_sec],
      ['ready', 'docker', 'python', '500m', '512Mi', '/workspace', 600, 3600],
    );
    assert.deepEqual(s.metadata, { owner: 'tests' });
    assert.deepEqual(s.snapshot_ids, []);
    assert.equal(s.artifacts_count, 0);

    // The session is the sandbox API's session of the same id while it runs on its first sandbox.
    assert.match(s.ref, /^(bwrap|docker|kubernetes):\/\//);
    const backing = s.ref.split('://')[1];
    assert.equal(backing, s.id);
    // The memory setting is a real limit: the backing session's cgroup (or rlimit floor) says so.
    const stats = await request(`${server.url}/v1/sessions/${backing}/stats`, { headers: { authorization: `Bearer ${server.apiKey}` } });
    const st = (await stats.body.json()) as { memory_limit?: number };
    if (st.memory_limit !== undefined) assert.equal(st.memory_limit, 512 * 1024 * 1024);
  });

  it('createSandboxSessionTakesUpstreamsDefaultsAndChecksThem', async () => {
    const s = await newSession();
    assert.deepEqual([s.idle_timeout_sec, s.max_lifetime_sec, s.status], [300, 3600, 'ready']);
    const bad = await call('POST', '/sandbox/sessions/', { json: { idle_timeout_sec: 900, max_lifetime_sec: 600 } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.detail, /idle_timeout_sec cannot exceed max_lifetime_sec/);
    const badMemory = await call('POST', '/sandbox/sessions/', { json: { memory: 'lots' } });
    assert.equal(badMemory.status, 400);
    assert.equal(typeof badMemory.body.detail, 'string');
  });

  it('createSandboxSessionWithAnIdCreatesItThenReusesIt', async () => {
    const id = randomUUID();
    const first = await call('POST', '/sandbox/sessions/', { json: { id } });
    assert.equal(first.status, 201);
    assert.equal(first.body.id, id);
    const again = await call('POST', '/sandbox/sessions/', { json: { id } });
    assert.equal(again.status, 200, 'upstream answers 200 for a session that already exists');
    assert.equal(again.body.id, id);
    assert.equal(again.body.ref, first.body.ref, 'the same sandbox');
  });

  it('listSandboxSessionsIsABareArrayWithStoppedOnesToo', async () => {
    const a = await newSession();
    const b = await newSession();
    assert.equal((await call('POST', `/sandbox/sessions/${b.id}/stop/`)).status, 204);
    const list = await call('GET', '/sandbox/sessions/');
    assert.equal(list.status, 200);
    assert.ok(Array.isArray(list.body));
    const byId = new Map(list.body.map((s: { id: string }) => [s.id, s]));
    assert.equal((byId.get(a.id) as any).status, 'ready');
    assert.equal((byId.get(b.id) as any).status, 'terminated');
    const times = list.body.map((s: { created_at: string }) => s.created_at);
    assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
  });

  it('getSandboxSessionAnswersOneOr404Detail', async () => {
    const s = await newSession();
    const got = await call('GET', `/sandbox/sessions/${s.id}/`);
    assert.equal(got.status, 200);
    assert.equal(got.body.id, s.id);
    const missing = await call('GET', `/sandbox/sessions/${randomUUID()}/`);
    assert.equal(missing.status, 404);
    assert.equal(typeof missing.body.detail, 'string');
  });

  it('heartbeatSandboxSessionReportsStatusAndTime', async () => {
    const s = await newSession();
    const hb = await call('POST', `/sandbox/sessions/${s.id}/heartbeat/`);
    assert.equal(hb.status, 200);
    assert.equal(hb.body.status, 'ready');
    assert.ok(Date.parse(hb.body.last_heartbeat_at) >= Date.parse(s.created_at));
    await call('POST', `/sandbox/sessions/${s.id}/stop/`);
    const after = await call('POST', `/sandbox/sessions/${s.id}/heartbeat/`);
    assert.equal(after.status, 200);
    assert.equal(after.body.status, 'terminated');
  });

  it('stopSandboxSessionAnswers204AndKeepsTheFilesForTheNextStart', async () => {
    const s = await newSession();
    await call('POST', `/sandbox/sessions/${s.id}/files/upload/`, { raw: Buffer.from('kept\n'), query: { path: '/workspace/keep.txt' } });
    assert.equal((await call('POST', `/sandbox/sessions/${s.id}/stop/`)).status, 204);
    const stopped = await call('GET', `/sandbox/sessions/${s.id}/`);
    assert.equal(stopped.status, 200, 'a stopped session is still there, as upstream');
    assert.equal(stopped.body.status, 'terminated');
    assert.equal(stopped.body.ref, '');
    const backing = s.ref.split('://')[1];
    const gone = await request(`${server.url}/v1/sessions/${backing}/exec`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cmd: 'true' }),
    });
    await gone.body.dump();
    assert.equal(gone.statusCode, 404, 'its sandbox is gone');
    // A stopped session starts again on its files at the next call that needs a sandbox.
    const cat = await call('POST', `/sandbox/sessions/${s.id}/shell/`, { json: { command: 'cat keep.txt' } });
    assert.equal(cat.status, 200, JSON.stringify(cat.body));
    assert.equal(cat.body.stdout, 'kept\n');
    const revived = await call('GET', `/sandbox/sessions/${s.id}/`);
    assert.equal(revived.body.status, 'ready');
    assert.notEqual(revived.body.ref, s.ref, 'a new sandbox');
  });

  it('deleteSandboxSessionAfterStopAnswers204AndForgetsIt', async () => {
    const s = await newSession();
    await call('POST', `/sandbox/sessions/${s.id}/stop/`);
    assert.equal((await call('DELETE', `/sandbox/sessions/${s.id}/`)).status, 204);
    assert.equal((await call('GET', `/sandbox/sessions/${s.id}/`)).status, 404);
    assert.equal((await call('DELETE', `/sandbox/sessions/${s.id}/`)).status, 404);
    const ws = await request(`${server.url}/v1/workspaces`, { headers: { authorization: `Bearer ${server.apiKey}` } });
    const { workspaces } = (await ws.body.json()) as { workspaces: { id: string }[] };
    assert.ok(!workspaces.some((w) => w.id === s.workspace_uid), 'its files went with it');

    // DELETE on a running session stops it (as upstream); a second DELETE forgets it.
    const t = await newSession();
    assert.equal((await call('DELETE', `/sandbox/sessions/${t.id}/`)).status, 204);
    assert.equal((await call('GET', `/sandbox/sessions/${t.id}/`)).body.status, 'terminated');
    assert.equal((await call('DELETE', `/sandbox/sessions/${t.id}/`)).status, 204);
    assert.equal((await call('GET', `/sandbox/sessions/${t.id}/`)).status, 404);
  });

  it('uploadFileWritesTheRawBodyAndAnswersJson', async () => {
    const s = await newSession();
    const bin = Buffer.from([0, 1, 2, 255, 254, 10]);
    // 0.1.7 and later send files/upload/, older releases files/upload: both work.
    for (const path of [`/sandbox/sessions/${s.id}/files/upload/`, `/sandbox/sessions/${s.id}/files/upload`]) {
      const up = await call('POST', path, { raw: bin, query: { path: '/workspace/data/blob.bin' } });
      assert.equal(up.status, 200, JSON.stringify(up.body));
      assert.deepEqual([up.body.exit_code, up.body.stdout, up.body.stderr], [0, '', '']);
    }
    const sum = await call('POST', `/sandbox/sessions/${s.id}/shell/`, { json: { command: 'od -An -tu1 data/blob.bin' } });
    assert.equal(sum.body.stdout.trim().split(/\s+/).join(','), '0,1,2,255,254,10');
    const outside = await call('POST', `/sandbox/sessions/${s.id}/files/upload/`, { raw: bin, query: { path: '/etc/passwd' } });
    assert.equal(outside.status, 400);
    assert.match(outside.body.detail, /workspace/);
    const noPath = await call('POST', `/sandbox/sessions/${s.id}/files/upload/`, { raw: bin });
    assert.equal(noPath.status, 400);
  });

  it('getFileContentAnswersTheBytesAsAnAttachment', async () => {
    const s = await newSession();
    await call('POST', `/sandbox/sessions/${s.id}/upload/`, { json: { path: 'notes/a.txt', content: 'héllo' } });
    const got = await call('GET', `/sandbox/sessions/${s.id}/files/content/`, { query: { path: '/workspace/notes/a.txt' } });
    assert.equal(got.status, 200);
    assert.equal(got.headers['content-type'], 'application/octet-stream');
    assert.match(String(got.headers['content-disposition']), /attachment; filename="a.txt"/);
    assert.equal(got.body.toString('utf8'), 'héllo');
    const named = await call('GET', `/sandbox/sessions/${s.id}/files/content`, { query: { path: 'notes/a.txt', filename: 'x "y".txt' } });
    assert.match(String(named.headers['content-disposition']), /filename="x _y_.txt"; filename\*=UTF-8''x%20%22y%22.txt/);
    const missing = await call('GET', `/sandbox/sessions/${s.id}/files/content/`, { query: { path: 'nope.txt' } });
    assert.equal(missing.status, 400);
    assert.equal(typeof missing.body.detail, 'string');
  });

  it('exportFileAnswers201WithADescriptorWhoseUrlServesTheBytes', async () => {
    const s = await newSession();
    const bytes = Buffer.from('%PDF-1.4 not really\n\u0000\u00ff', 'latin1');
    await call('POST', `/sandbox/sessions/${s.id}/files/upload/`, { raw: bytes, query: { path: 'out/report.pdf' } });
    const res = await call('POST', `/sandbox/sessions/${s.id}/files/export/`, {
      json: { path: '/workspace/out/report.pdf', content_type: 'application/pdf' },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const a = res.body;
    assert.equal(typeof a.id, 'string');
    assert.equal(a.filename, 'report.pdf', 'the file name by default');
    assert.equal(a.content_type, 'application/pdf');
    assert.equal(a.size, bytes.length);
    assert.equal(a.size_bytes, bytes.length, 'the name the client reads');
    assert.equal(a.storage_path, '/workspace/out/report.pdf');
    assert.match(a.download_url, new RegExp(`^${server.url}/api/sandbox/sessions/${s.id}/artifacts/${a.id}/download/$`));

    const download = await fetchAnswer('GET', a.download_url, {}, server.apiKey);
    assert.equal(download.status, 200);
    assert.equal(download.headers['content-type'], 'application/pdf');
    assert.deepEqual(download.body, bytes);
    const bearer = await request(a.download_url, { headers: { authorization: `Bearer ${server.apiKey}` } });
    assert.deepEqual(Buffer.from(await bearer.body.arrayBuffer()), bytes);
    assert.equal((await fetchAnswer('GET', a.download_url, { key: 'wrong' }, server.apiKey)).status, 401, 'the same auth');

    const named = await call('POST', `/sandbox/sessions/${s.id}/files/export/`, { json: { path: 'out/report.pdf', filename: 'q3.pdf' } });
    assert.deepEqual([named.body.filename, named.body.content_type], ['q3.pdf', 'application/octet-stream']);
    const list = await call('GET', `/sandbox/sessions/${s.id}/artifacts/`);
    assert.equal(list.status, 200);
    assert.equal(list.body.session_id, s.id);
    assert.deepEqual(
      list.body.artifacts.map((x: { id: string }) => x.id),
      [named.body.id, a.id],
    );
    assert.equal((await call('GET', `/sandbox/sessions/${s.id}/`)).body.artifacts_count, 2);

    // An artifact is the server's copy: it outlives the sandbox and the file.
    await call('POST', `/sandbox/sessions/${s.id}/stop/`);
    assert.deepEqual((await fetchAnswer('GET', a.download_url, {}, server.apiKey)).body, bytes);
    const missing = await call('POST', `/sandbox/sessions/${s.id}/files/export/`, { json: { path: 'nope.bin' } });
    assert.equal(missing.status, 400);
    assert.equal(typeof missing.body.detail, 'string');
    const escape = await call('POST', `/sandbox/sessions/${s.id}/files/export/`, { json: { path: '/etc/passwd' } });
    assert.equal(escape.status, 400);
  });

  it('streamMessageSendsChunksWithTokensAsAListOfStrings', async () => {
    const conv = await call('POST', '/deepagent/conversations/', { json: {} });
    assert.equal(conv.status, 201, JSON.stringify(conv.body));
    assert.equal(conv.body.conversation_id, conv.body.sandbox_session_id, 'one id for both, as upstream');
    assert.equal(conv.body.status, 'ready');
    model.script.push(
      { call: 'write_file', args: { file_path: '/workspace/hello.txt', content: 'hi from the agent\n' } },
      { say: 'Wrote hello.txt for you.' },
    );
    const res = await request(`${server.url}/api/deepagent/conversations/${conv.body.conversation_id}/messages/`, {
      method: 'POST',
      headers: { 'x-api-key': server.apiKey, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Write hello.txt' }], stream: true }),
    });
    assert.equal(res.statusCode, 200);
    const chunks: any[] = [];
    const parser = createParser({ onEvent: (e) => chunks.push(JSON.parse(e.data)) });
    for await (const c of res.body) parser.feed(c.toString());
    for (const c of chunks) {
      assert.ok(Array.isArray(c.tokens) && c.tokens.every((t: unknown) => typeof t === 'string'), JSON.stringify(c));
      assert.ok(Array.isArray(c.messages) && Array.isArray(c.tool_events));
    }
    const text = chunks.flatMap((c) => c.tokens).join('');
    assert.ok(text.includes('Wrote hello.txt for you.'), text);
    assert.ok(chunks.some((c) => c.tokens.length > 0));
    const events = chunks.flatMap((c) => c.tool_events);
    assert.ok(events.some((e) => e.status === 'start' && e.tool_name === 'write_file' && e.tool_call_id));
    assert.ok(events.some((e) => e.status === 'result' && e.tool_name === 'write_file'));
    assert.ok(chunks.some((c) => c.messages.some((m: { content: string }) => m.content.includes('Wrote hello.txt'))));
    assert.equal(chunks.at(-1).done, true);

    const got = await call('GET', `/sandbox/sessions/${conv.body.sandbox_session_id}/files/content/`, { query: { path: 'hello.txt' } });
    assert.equal(got.body.toString(), 'hi from the agent\n');
  });

  it('sendMessageWithoutStreamAnswersTheMessagesOnTheSameThread', async () => {
    const s = await newSession();
    model.script.push({ say: 'First answer.' });
    const first = await call('POST', `/deepagent/conversations/${s.id}/messages/`, {
      json: { messages: [{ role: 'user', content: 'Remember the word teal' }], stream: false },
    });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.ok(
      first.body.messages.some((m: { content: string }) => m.content === 'First answer.'),
      'any sandbox session can be talked to',
    );
    model.script.push({ say: 'Still the same conversation.' });
    const second = await call('POST', `/deepagent/conversations/${s.id}/messages/`, {
      json: { messages: [{ role: 'user', content: 'And now?' }], stream: false },
    });
    assert.ok(second.body.messages.some((m: { content: string }) => m.content === 'Still the same conversation.'));
    assert.ok(model.requests.at(-1)!.raw.includes('Remember the word teal'), 'the thread carried over');

    // Without `stream`, upstream streams.
    model.script.push({ say: 'Streamed by default.' });
    const res = await request(`${server.url}/api/deepagent/conversations/${s.id}/messages/`, {
      method: 'POST',
      headers: { 'x-api-key': server.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.match(String(res.headers['content-type']), /text\/event-stream/);
    assert.match(await res.body.text(), /Streamed by default/);

    const missing = await call('POST', `/deepagent/conversations/${randomUUID()}/messages/`, {
      json: { messages: [{ role: 'user', content: 'x' }], stream: true },
    });
    assert.equal(missing.status, 404);
    assert.equal(typeof missing.body.detail, 'string');
  });

  it('answersDetailErrorsWithTheCodesTheClientChecks', async () => {
    const noKey = await call('GET', '/sandbox/sessions/', { key: 'wrong' });
    assert.equal(noKey.status, 401);
    assert.equal(typeof noKey.body.detail, 'string');
    const badBody = await call('POST', '/sandbox/sessions/', { json: { idle_timeout_sec: 'soon' } });
    assert.equal(badBody.status, 400);
    assert.equal(typeof badBody.body.detail, 'string');
  });
});
