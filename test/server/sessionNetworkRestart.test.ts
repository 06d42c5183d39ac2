// A session's network policy across a server restart: the next server on the
// data folder lists the sessions the killed one left (as crashed), and still
// says what egress each was given, through the sandbox API and the toolkit
// API alike; its traffic figures died with the old proxy, so they read zero.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../helpers/apiClient';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

const ALLOWED = 'origin.test:8080';
const OTHER = 'mirror.test:8443';
const IDLE_USAGE = { bytes_sent: 0, bytes_received: 0, connections: 0, blocked: 0 };

describe('session network across a server restart', function () {
  this.timeout(120_000);
  let dataDir: string;
  let second: ServerProcess | undefined;

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'af-netrestart-'));
  });
  after(async () => {
    await second?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keepsTheNetworkPolicyOfSessionsAServerLeftBehind', async () => {
    const first = await startServer({ dataDir, config: { pool: { size: 0 }, network: { allow: [ALLOWED, OTHER] } } });
    let api = new ApiClient(first.url, first.apiKey);
    const sandboxId = await api.createSession({ network: { mode: 'allowlist', allow: [ALLOWED] } });
    const none = await api.createSession({});
    const before = (await api.get(`/v1/sessions/${sandboxId}`)).body;
    assert.equal(before.network.mode, 'allowlist');
    assert.deepEqual(before.network.allow, [ALLOWED]);
    const toolkit = await api.call(
      'POST',
      '/api/sandbox/sessions/',
      { network: { mode: 'allowlist', allow: [OTHER] } },
      { headers: { 'x-api-key': first.apiKey } },
    );
    assert.equal(toolkit.status, 201, JSON.stringify(toolkit.body));
    const toolkitId = toolkit.body.id as string;
    await first.kill();

    second = await startServer({ dataDir });
    api = new ApiClient(second.url, second.apiKey);
    const after = (await api.get(`/v1/sessions/${sandboxId}`)).body;
    assert.equal(after.status, 'crashed', 'the killed server took the sandbox with it');
    assert.deepEqual(after.network, { mode: 'allowlist', allow: [ALLOWED], deny: [], usage: IDLE_USAGE, allowed_hosts: [], blocked: [] });
    const withoutNetwork = (await api.get(`/v1/sessions/${none}`)).body;
    assert.equal(withoutNetwork.network.mode, 'none', 'a session given no network still has none');

    // The toolkit session's first sandbox carries its id: the sandbox API reaches it too.
    const backing = (await api.get(`/v1/sessions/${toolkitId}`)).body;
    assert.equal(backing.network.mode, 'allowlist', JSON.stringify(backing));
    assert.deepEqual(backing.network.allow, [OTHER]);
    const view = await api.call('GET', `/api/sandbox/sessions/${toolkitId}/`, undefined, { headers: { 'x-api-key': second.apiKey } });
    assert.equal(view.status, 200, JSON.stringify(view.body));
    assert.equal(view.body.network.mode, 'allowlist');
    assert.deepEqual(view.body.network.allow, [OTHER]);
  });
});
