// The AstraForge toolkit API, driven the way the `astraforge-toolkit` Python
// client drives it (DeepAgentClient and SandboxBackend): X-Api-Key auth,
// trailing-slash paths, the status codes it checks, {detail} errors, and SSE
// `data:` chunks {tokens, messages, tool_events}. The client itself cannot be
// installed here (no PyPI), so its requests are replayed as it sends them.
import assert from 'node:assert/strict';
import { createParser } from 'eventsource-parser';
import { request } from 'undici';
import { startScriptedModel, type ScriptedModel } from '../helpers/scriptedModel';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

describe('toolkit API (astraforge-toolkit client)', function () {
  this.timeout(60_000);
  let model: ScriptedModel;
  let server: ServerProcess;

  async function call(
    method: string,
    path: string,
    opts: { json?: unknown; raw?: Buffer; query?: Record<string, string>; key?: string } = {},
  ) {
    const qs = opts.query ? `?${new URLSearchParams(opts.query)}` : '';
    const headers: Record<string, string> = { 'x-api-key': opts.key ?? server.apiKey };
    if (opts.json !== undefined) headers['content-type'] = 'application/json';
    if (opts.raw) headers['content-type'] = 'application/octet-stream';
    const res = await request(`${server.url}/api${path}${qs}`, {
      method: method as 'GET',
      headers,
      body: opts.raw ?? (opts.json !== undefined ? JSON.stringify(opts.json) : undefined),
    });
    const buf = Buffer.from(await res.body.arrayBuffer());
    let body: any = buf;
    if (String(res.headers['content-type'] ?? '').includes('json')) body = JSON.parse(buf.toString());
    return { status: res.statusCode, body };
  }

  before(async () => {
    model = await startScriptedModel([]);
    server = await startServer({ env: { ASTRAFORGE_MODEL_BASE_URL: model.baseUrl, ASTRAFORGE_MODEL_API_KEY: 'sk-real' } });
  });
  after(async () => {
    await server?.dispose();
    await model?.close();
  });

  it('managesSandboxSessionsAsTheClientExpects', async () => {
    const created = await call('POST', '/sandbox/sessions/', {
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
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const s = created.body;
    assert.equal(s.status, 'ready');
    assert.equal(s.workspace_path, '/workspace');
    assert.equal(s.idle_timeout_sec, 600);
    assert.equal(s.max_lifetime_sec, 3600);
    assert.deepEqual(s.metadata, { owner: 'tests' });
    assert.ok(s.created_at && s.updated_at);

    const list = await call('GET', '/sandbox/sessions/');
    assert.equal(list.status, 200);
    assert.ok(Array.isArray(list.body) && list.body.some((x: { id: string }) => x.id === s.id));
    assert.equal((await call('GET', `/sandbox/sessions/${s.id}/`)).body.id, s.id);
    const reuse = await call('POST', '/sandbox/sessions/', { json: { id: s.id } });
    assert.equal(reuse.status, 201);
    assert.equal(reuse.body.id, s.id);

    const hb = await call('POST', `/sandbox/sessions/${s.id}/heartbeat/`);
    assert.equal(hb.status, 200);
    assert.equal(hb.body.status, 'ready');
    assert.ok(hb.body.last_heartbeat_at);

    // The memory setting is a real limit: the sandbox's cgroup (or rlimit floor) says so.
    const stats = await request(`${server.url}/v1/sessions/${s.id}/stats`, { headers: { authorization: `Bearer ${server.apiKey}` } });
    const st = (await stats.body.json()) as { memory_limit?: number };
    if (st.memory_limit !== undefined) assert.equal(st.memory_limit, 512 * 1024 * 1024);

    // SandboxBackend's calls: shell with stdout/stderr apart, upload, raw upload, download.
    const sh = await call('POST', `/sandbox/sessions/${s.id}/shell/`, { json: { command: 'echo out; echo err >&2; exit 3' } });
    assert.equal(sh.status, 200);
    assert.deepEqual([sh.body.exit_code, sh.body.stdout, sh.body.stderr], [3, 'out\n', 'err\n']);
    assert.equal(typeof sh.body.duration_sec, 'number');
    const arr = await call('POST', `/sandbox/sessions/${s.id}/exec/`, { json: { command: ['printf', '%s|', "it's", 'a b'], cwd: '/tmp' } });
    assert.equal(arr.body.stdout, "it's|a b|");
    const pwd = await call('POST', `/sandbox/sessions/${s.id}/shell/`, { json: { command: 'pwd', cwd: '/tmp' } });
    assert.equal(pwd.body.stdout, '/tmp\n');
    assert.equal(
      (await call('POST', `/sandbox/sessions/${s.id}/shell/`, { json: { command: 'pwd' } })).body.stdout,
      '/workspace\n',
      'a cwd does not stick',
    );
    const slow = await call('POST', `/sandbox/sessions/${s.id}/shell/`, { json: { command: 'sleep 30', timeout_sec: 1 } });
    assert.equal(slow.body.exit_code, 124);

    const up = await call('POST', `/sandbox/sessions/${s.id}/upload/`, {
      json: { path: '/workspace/notes/a.txt', content: 'héllo', encoding: 'utf-8' },
    });
    assert.equal(up.status, 200);
    assert.equal(up.body.exit_code, 0);
    const bin = Buffer.from([0, 1, 2, 255, 254]);
    const raw = await call('POST', `/sandbox/sessions/${s.id}/files/upload/`, { raw: bin, query: { path: 'data/blob.bin' } });
    assert.equal(raw.status, 200, JSON.stringify(raw.body));
    const got = await call('GET', `/sandbox/sessions/${s.id}/files/content/`, { query: { path: '/workspace/data/blob.bin' } });
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, bin);
    const text = await call('GET', `/sandbox/sessions/${s.id}/files/content/`, { query: { path: 'notes/a.txt' } });
    assert.equal(text.body.toString('utf8'), 'héllo');

    // Errors are {detail}, with the codes the client checks.
    const escape = await call('POST', `/sandbox/sessions/${s.id}/upload/`, { json: { path: '/etc/passwd', content: 'x' } });
    assert.equal(escape.status, 400);
    assert.match(escape.body.detail, /workspace/);
    const missing = await call('GET', '/sandbox/sessions/nope/');
    assert.equal(missing.status, 404);
    assert.equal(typeof missing.body.detail, 'string');
    const noKey = await call('GET', '/sandbox/sessions/', { key: 'wrong' });
    assert.equal(noKey.status, 401);
    assert.equal(typeof noKey.body.detail, 'string');

    assert.equal((await call('POST', `/sandbox/sessions/${s.id}/stop/`)).status, 204);
    assert.equal((await call('GET', `/sandbox/sessions/${s.id}/`)).status, 404, 'a stopped session is gone');
    assert.equal((await call('POST', `/sandbox/sessions/${s.id}/shell/`, { json: { command: 'true' } })).status, 404);
    const other = (await call('POST', '/sandbox/sessions/', { json: {} })).body;
    assert.equal((await call('DELETE', `/sandbox/sessions/${other.id}/`)).status, 204);
  });

  it('streamsADeepAgentConversation', async () => {
    const conv = await call('POST', '/deepagent/conversations/', { json: {} });
    assert.equal(conv.status, 201, JSON.stringify(conv.body));
    assert.ok(conv.body.conversation_id && conv.body.sandbox_session_id);
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
    const tokens = chunks.map((c) => c.tokens).join('');
    assert.ok(tokens.includes('Wrote hello.txt for you.'), tokens);
    const events = chunks.flatMap((c) => c.tool_events);
    assert.ok(events.some((e) => e.status === 'start' && e.tool_name === 'write_file' && e.tool_call_id));
    assert.ok(events.some((e) => e.status === 'result' && e.tool_name === 'write_file'));
    assert.ok(chunks.some((c) => c.messages.some((m: { content: string }) => m.content.includes('Wrote hello.txt'))));
    for (const c of chunks) assert.ok('tokens' in c && Array.isArray(c.messages) && Array.isArray(c.tool_events));

    // The file is in the conversation's sandbox.
    const got = await call('GET', `/sandbox/sessions/${conv.body.sandbox_session_id}/files/content/`, { query: { path: 'hello.txt' } });
    assert.equal(got.body.toString(), 'hi from the agent\n');

    // stream: false answers with the final messages as JSON, on the same thread.
    model.script.push({ say: 'Still the same conversation.' });
    const plain = await call('POST', `/deepagent/conversations/${conv.body.conversation_id}/messages/`, {
      json: { messages: [{ role: 'user', content: 'And now?' }], stream: false },
    });
    assert.equal(plain.status, 200, JSON.stringify(plain.body));
    assert.ok(plain.body.messages.some((m: { content: string }) => m.content === 'Still the same conversation.'));
    assert.ok(model.requests.at(-1)!.raw.includes('Write hello.txt'), 'the thread carried over');

    const missing = await call('POST', '/deepagent/conversations/nope/messages/', {
      json: { messages: [{ role: 'user', content: 'x' }], stream: true },
    });
    assert.equal(missing.status, 404);
    assert.equal(typeof missing.body.detail, 'string');
  });
});
