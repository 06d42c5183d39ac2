// Wire compatibility with the Sandkasten SDKs: the requests below are the ones
// their Python and TypeScript clients send (headers, default values, bodies),
// and the assertions read the fields those clients read.
import assert from 'node:assert/strict';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

describe('Sandkasten SDK compatibility', function () {
  let server: ServerProcess;
  // The TypeScript SDK sends this header on every request, bodiless GETs and DELETEs included.
  const headers = () => ({ 'Content-Type': 'application/json', Authorization: `Bearer ${server.apiKey}` });
  const call = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { ...init, headers: headers() });

  before(async () => {
    server = await startServer();
  });
  after(async () => server?.dispose());

  it('servesTheFullSessionRoundTripAsTheSdksSendIt', async () => {
    // Python SDK: create_session() defaults to image="python"
    const created = await call('/v1/sessions', { method: 'POST', body: JSON.stringify({ image: 'python', workspace_id: 'sdk-ws' }) });
    assert.equal(created.status, 201);
    const id = ((await created.json()) as any).id;

    const info = (await (await call(`/v1/sessions/${id}`)).json()) as any;
    for (const field of ['id', 'image', 'container_id', 'status', 'cwd', 'created_at', 'expires_at', 'last_activity']) {
      assert.ok(field in info, `session info lacks ${field}`);
    }
    assert.equal(info.image, 'python');
    assert.equal(info.status, 'running');

    const exec = (await (
      await call(`/v1/sessions/${id}/exec`, {
        method: 'POST',
        body: JSON.stringify({ cmd: 'cd /tmp && python3 -c "print(6*7)"', timeout_ms: 30000 }),
      })
    ).json()) as any;
    assert.deepEqual(
      { exit_code: exec.exit_code, cwd: exec.cwd, output: exec.output, truncated: exec.truncated },
      { exit_code: 0, cwd: '/tmp', output: '42\n', truncated: false },
    );
    assert.equal(typeof exec.duration_ms, 'number');

    // exec_stream: the Python SDK reads "event: " and "data: " lines one by one
    const stream = await call(`/v1/sessions/${id}/exec/stream`, {
      method: 'POST',
      body: JSON.stringify({ cmd: 'pwd; echo done-streaming', timeout_ms: 30000 }),
    });
    const lines = (await stream.text()).split('\n');
    let eventType = '';
    const chunks: string[] = [];
    let done: any;
    for (const line of lines) {
      if (line.startsWith('event: ')) eventType = line.slice(7).trim();
      else if (line.startsWith('data: ')) {
        const data = JSON.parse(line.slice(6));
        if (eventType === 'chunk') chunks.push(data.chunk);
        if (eventType === 'done') done = data;
      }
    }
    assert.equal(chunks.join(''), '/tmp\ndone-streaming\n', 'the shell kept its cwd');
    assert.equal(done.exit_code, 0);
    assert.equal(done.cwd, '/tmp');

    const write = await call(`/v1/sessions/${id}/fs/write`, {
      method: 'POST',
      body: JSON.stringify({ path: 'hello.py', content_base64: Buffer.from("print('hi')\n").toString('base64') }),
    });
    assert.equal(write.status, 200);
    const read = (await (await call(`/v1/sessions/${id}/fs/read?path=hello.py`)).json()) as any;
    assert.equal(Buffer.from(read.content_base64, 'base64').toString(), "print('hi')\n");

    const list = (await (await call('/v1/sessions')).json()) as any;
    assert.ok(Array.isArray(list) && list.some((s: any) => s.id === id));

    const workspaces = (await (await call('/v1/workspaces')).json()) as any;
    const ws = workspaces.workspaces.find((w: any) => w.id === 'sdk-ws');
    assert.equal(ws.active_session_count, 1);
    assert.equal(ws.session_count, 1);

    // destroy() and delete_workspace(): DELETE with the JSON content type and no body
    assert.equal((await call(`/v1/sessions/${id}`, { method: 'DELETE' })).status, 200);
    assert.equal((await call('/v1/workspaces/sdk-ws', { method: 'DELETE' })).status, 200);
  });

  it('acceptsTheSdksOtherImageNames', async () => {
    for (const image of ['base', 'sandbox-runtime:python', 'node']) {
      const r = await call('/v1/sessions', { method: 'POST', body: JSON.stringify({ image }) });
      assert.equal(r.status, 201, image);
      const id = ((await r.json()) as any).id;
      await call(`/v1/sessions/${id}`, { method: 'DELETE' });
    }
  });
});
