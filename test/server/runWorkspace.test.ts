// Each run records the workspace folder it came from, so every window of
// that folder lists the same runs: the folder is stored with the run, kept
// across a restart, and filters GET /api/runs; runs without one (and runs
// from before it was recorded) keep loading.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Run, RunList } from '@astraforge/contract/runApi';
import { ApiClient } from '../helpers/apiClient';
import { makeTree, uploadTree, waitForRun } from '../helpers/runHelpers';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

const APP = { uri: 'file:///home/dev/app', name: 'app' };
const LIB = { uri: 'vscode-remote://ssh-remote%2Bbox/home/dev/lib', name: 'lib' };

async function createRun(api: ApiClient, snapshotId: string, workspace?: unknown) {
  const r = await api.post('/api/runs', {
    agent: 'command',
    task: { kind: 'spec', prompt: 'test', command: 'true' },
    snapshot_id: snapshotId,
    ...(workspace ? { workspace } : {}),
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  await waitForRun(api, r.body.id, ['succeeded']);
  return Run.parse(r.body);
}

async function listIds(api: ApiClient, query: string): Promise<string[]> {
  const r = await api.get(`/api/runs${query}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return RunList.parse(r.body).runs.map((run) => run.id);
}

describe('runs of a workspace folder', function () {
  this.timeout(60_000);
  let dataDir: string;
  let server: ServerProcess;
  let api: ApiClient;
  let snapshotId: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'af-runws-'));
    server = await startServer({ dataDir });
    api = new ApiClient(server.url, server.apiKey);
    const tree = makeTree({ 'a.txt': 'a\n' });
    snapshotId = (await uploadTree(api, tree)).body.snapshot_id;
    rmSync(tree, { recursive: true, force: true });
  });
  after(async () => {
    await server?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('recordsTheFolderAndListsOneFoldersRunsNewestFirst', async () => {
    const app1 = await createRun(api, snapshotId, APP);
    const lib1 = await createRun(api, snapshotId, LIB);
    const none = await createRun(api, snapshotId);
    const app2 = await createRun(api, snapshotId, APP);
    assert.deepEqual(app1.workspace, APP);
    assert.equal(none.workspace, undefined);
    assert.deepEqual(Run.parse((await api.get(`/api/runs/${lib1.id}`)).body).workspace, LIB);

    assert.deepEqual(await listIds(api, `?workspace=${encodeURIComponent(APP.uri)}`), [app2.id, app1.id]);
    assert.deepEqual(await listIds(api, `?workspace=${encodeURIComponent(LIB.uri)}`), [lib1.id]);
    assert.deepEqual(await listIds(api, `?workspace=${encodeURIComponent('file:///home/dev/other')}`), []);
    // Without the filter: every run of this user, whatever its folder.
    assert.deepEqual(await listIds(api, ''), [app2.id, none.id, lib1.id, app1.id]);

    // Pages stay within the folder.
    const first = RunList.parse((await api.get(`/api/runs?limit=1&workspace=${encodeURIComponent(APP.uri)}`)).body);
    assert.deepEqual(
      first.runs.map((r) => r.id),
      [app2.id],
    );
    assert.ok(first.next_cursor);
    const second = RunList.parse(
      (await api.get(`/api/runs?limit=1&workspace=${encodeURIComponent(APP.uri)}&cursor=${encodeURIComponent(first.next_cursor)}`)).body,
    );
    assert.deepEqual(
      second.runs.map((r) => r.id),
      [app1.id],
    );
    assert.equal(second.next_cursor, undefined);
  });

  it('refusesAFolderOutsideItsBounds', async () => {
    const bad: [string, unknown][] = [
      ['no name', { uri: APP.uri }],
      ['empty uri', { uri: '', name: 'x' }],
      ['long uri', { uri: `file:///${'x'.repeat(5000)}`, name: 'x' }],
      ['long name', { uri: APP.uri, name: 'n'.repeat(300) }],
      ['unknown field', { ...APP, path: '/home/dev/app' }],
      ['not an object', APP.uri],
    ];
    for (const [what, workspace] of bad) {
      const r = await api.post('/api/runs', {
        agent: 'command',
        task: { kind: 'spec', prompt: 'test', command: 'true' },
        snapshot_id: snapshotId,
        workspace,
      });
      assert.equal(r.status, 400, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error_code, 'INVALID_REQUEST', what);
    }
    const longFilter = await api.get(`/api/runs?workspace=${'x'.repeat(5000)}`);
    assert.equal(longFilter.status, 400);
  });

  it('keepsTheFolderAndLoadsRunsWithoutOneAfterARestart', async () => {
    const before = RunList.parse((await api.get('/api/runs?limit=200')).body).runs;
    assert.ok(before.some((r) => r.workspace === undefined) && before.some((r) => r.workspace !== undefined));
    await server.stop();
    server = await startServer({ dataDir });
    api = new ApiClient(server.url, server.apiKey);
    const after = RunList.parse((await api.get('/api/runs?limit=200')).body).runs;
    assert.deepEqual(
      after.map((r) => [r.id, r.workspace]),
      before.map((r) => [r.id, r.workspace]),
    );
    assert.deepEqual(
      await listIds(api, `?workspace=${encodeURIComponent(LIB.uri)}`),
      before.filter((r) => r.workspace?.uri === LIB.uri).map((r) => r.id),
    );
  });
});
