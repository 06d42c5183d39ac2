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

  describe('workspace file routes (newer daemons)', () => {
    const auth = () => ({ Authorization: `Bearer ${server.apiKey}` });
    const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as any });
    const write = (ws: string, body: unknown) =>
      call(`/v1/workspaces/${ws}/fs/write`, { method: 'POST', body: JSON.stringify(body) }).then(json);
    const read = (ws: string, path: string, extra = '') =>
      call(`/v1/workspaces/${ws}/fs/read?path=${encodeURIComponent(path)}${extra}`).then(json);
    const list = (ws: string, path?: string) =>
      call(`/v1/workspaces/${ws}/fs${path === undefined ? '' : `?path=${encodeURIComponent(path)}`}`).then(json);
    const sessionCount = async () => ((await (await call('/v1/sessions')).json()) as any[]).filter((s) => s.status === 'running').length;

    it('writesReadsAndListsAWorkspaceWithNoSessionOfItsOwn', async () => {
      const before = await sessionCount();
      assert.deepEqual(await write('files-ws', { path: 'notes/a.txt', text: 'héllo\n' }), { status: 200, body: { ok: true } });
      const bin = Buffer.from([0, 1, 2, 255]);
      assert.equal((await write('files-ws', { path: '/workspace/bin.dat', content_base64: bin.toString('base64') })).status, 200);
      const ws = ((await (await call('/v1/workspaces')).json()) as any).workspaces.find((w: any) => w.id === 'files-ws');
      assert.ok(ws, 'a write creates the workspace, as the daemon does');

      const text = await read('files-ws', 'notes/a.txt');
      assert.equal(text.status, 200);
      assert.deepEqual(text.body, {
        path: '/workspace/notes/a.txt',
        content_base64: Buffer.from('héllo\n').toString('base64'),
        truncated: false,
      });
      assert.deepEqual(Buffer.from((await read('files-ws', '/workspace/bin.dat')).body.content_base64, 'base64'), bin);
      const cut = await read('files-ws', 'bin.dat', '&max_bytes=2');
      assert.deepEqual([cut.body.truncated, Buffer.from(cut.body.content_base64, 'base64')], [true, bin.subarray(0, 2)]);

      const root = await list('files-ws');
      assert.equal(root.status, 200);
      assert.deepEqual(root.body, {
        entries: [
          { name: 'bin.dat', is_dir: false },
          { name: 'notes', is_dir: true },
        ],
      });
      assert.deepEqual((await list('files-ws', 'notes')).body.entries, [{ name: 'a.txt', is_dir: false }]);
      assert.equal(await sessionCount(), before, 'the sandbox that did the work is gone');
    });

    it('uploadsMultipartFilesIntoAWorkspaceFolder', async () => {
      const form = new FormData();
      form.append('path', 'in');
      form.append('files', new Blob(['one']), 'one.txt');
      form.append('files', new Blob([Buffer.from([9, 8, 7])]), 'two.bin');
      const res = await fetch(`${server.url}/v1/workspaces/upload-ws/fs/upload`, { method: 'POST', headers: auth(), body: form });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { ok: true, paths: ['/workspace/in/one.txt', '/workspace/in/two.bin'] });
      assert.equal(Buffer.from((await read('upload-ws', 'in/one.txt')).body.content_base64, 'base64').toString(), 'one');
      const single = new FormData();
      single.append('file', new Blob(['solo']), 'solo.txt');
      const one = await fetch(`${server.url}/v1/workspaces/upload-ws/fs/upload`, { method: 'POST', headers: auth(), body: single });
      assert.deepEqual(await one.json(), { ok: true, paths: ['/workspace/solo.txt'] });
      const none = await fetch(`${server.url}/v1/workspaces/upload-ws/fs/upload`, {
        method: 'POST',
        headers: auth(),
        body: new FormData(),
      });
      assert.equal(none.status, 400);
    });

    it('appliesTheSessionsPathRules', async () => {
      await write('rules-ws', { path: 'keep.txt', text: 'x' });
      // Links planted from inside a sandbox, as an agent could.
      const s = await json(await call('/v1/sessions', { method: 'POST', body: JSON.stringify({ workspace_id: 'rules-ws' }) }));
      await call(`/v1/sessions/${s.body.id}/exec`, {
        method: 'POST',
        body: JSON.stringify({ cmd: 'ln -s /etc/hostname out && ln -s /etc outdir' }),
      });
      await call(`/v1/sessions/${s.body.id}`, { method: 'DELETE' });
      for (const res of [
        await write('rules-ws', { path: '../escape.txt', text: 'x' }),
        await write('rules-ws', { path: '/etc/passwd', text: 'x' }),
        await write('rules-ws', { path: 'outdir/x', text: 'x' }),
        await read('rules-ws', 'out'),
        await read('rules-ws', '../../etc/passwd'),
        await list('rules-ws', 'outdir'),
        await list('rules-ws', '/etc'),
        await list('rules-ws', 'keep.txt'),
        await list('rules-ws', 'missing'),
      ]) {
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.equal(res.body.error_code, 'INVALID_REQUEST');
      }
      const links = (await list('rules-ws')).body.entries;
      assert.deepEqual(
        links.map((e: any) => [e.name, e.is_dir]),
        [
          ['keep.txt', false],
          ['out', false],
          ['outdir', false],
        ],
        'links are listed as links, never followed',
      );
      for (const res of [await read('no-such-ws', 'a.txt'), await list('no-such-ws')]) {
        assert.equal(res.status, 404);
        assert.equal(res.body.error_code, 'WORKSPACE_NOT_FOUND');
      }
    });

    it('goesThroughTheSessionRunningOnTheWorkspace', async () => {
      const s = await json(await call('/v1/sessions', { method: 'POST', body: JSON.stringify({ workspace_id: 'live-ws' }) }));
      const exec = async (cmd: string) =>
        ((await (await call(`/v1/sessions/${s.body.id}/exec`, { method: 'POST', body: JSON.stringify({ cmd }) })).json()) as any).output;
      await exec('mkdir -p sub && cd sub');
      const before = await sessionCount();
      await write('live-ws', { path: 'sub/from-route.txt', text: 'seen' });
      assert.equal(await exec('cat from-route.txt'), 'seen', 'the running session sees it at once');
      assert.deepEqual((await list('live-ws', 'sub')).body.entries, [{ name: 'from-route.txt', is_dir: false }]);
      assert.equal(await exec('pwd'), '/workspace/sub\n', "the session's shell kept its cwd");
      assert.equal(await sessionCount(), before, 'no second sandbox');
      await call(`/v1/sessions/${s.body.id}`, { method: 'DELETE' });
    });
  });
});
