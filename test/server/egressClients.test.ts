// Real clients through the egress proxy, in runs: `git clone` over HTTP from
// a real git server (git http-backend) and `npm install` from a real npm
// registry (verdaccio, with a package this test publishes), both on loopback
// and reached by name through network.resolve and allowPrivate, allowed by
// rule, and refused with a network.blocked event naming the host when the rule
// is absent. The run's events and usage show what went through. Also: a run
// or session asking for more than the server allows gets 400.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../helpers/apiClient';
import { makeTree, readRunEvents, uploadTree, waitForRun } from '../helpers/runHelpers';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { git, startGitServer, type GitServer } from './alertsStandIns';
import { buildNpmImage, NPM_IMAGE, startNpmRegistry, type NpmRegistry } from '../helpers/npmRegistry';
import { DOCKER } from './egressStandIns';

const GIT_TOKEN = 'egress-test-token';

describe('egress with real clients', function () {
  this.timeout(180_000);
  let gitServer: GitServer;
  let registry: NpmRegistry;
  let server: ServerProcess;
  let api: ApiClient;
  let snapshotId: string;
  let gitPort: number;
  const gitRoot = mkdtempSync(join(tmpdir(), 'af-egress-git-'));

  before(async () => {
    // A bare repository with one commit, served by git http-backend.
    const work = makeTree({ 'README.md': '# served over http\n', 'src/lib.js': 'module.exports = 42;\n' });
    git(work, 'init', '-q', '-b', 'main');
    git(work, 'add', '.');
    git(work, 'commit', '-qm', 'first');
    execFileSync('git', ['clone', '-q', '--bare', work, join(gitRoot, 'lib.git')]);
    gitServer = await startGitServer(gitRoot, GIT_TOKEN);
    gitPort = Number(new URL(gitServer.url).port);
    registry = await startNpmRegistry();
    await registry.publish('egress-demo', '1.0.0', { 'index.js': "module.exports = 'egress-demo works';\n" });
    // The Docker image is Debian's git, python3 and node without npm: that image plus this host's npm.
    if (DOCKER) await buildNpmImage();
    const resolve = { 'git.test': '127.0.0.1', 'registry.test': '127.0.0.1' };
    const allow = [`git.test:${gitPort}`, `registry.test:${registry.port}`, 'npm'];
    const allowPrivate = [`127.0.0.1:${gitPort}`, `127.0.0.1:${registry.port}`];
    server = await startServer({
      config: {
        pool: { size: 0 },
        network: { allow, resolve, allowPrivate },
        ...(DOCKER ? { docker: { defaultImage: NPM_IMAGE } } : {}),
      },
    });
    api = new ApiClient(server.url, server.apiKey);
    const up = await uploadTree(api, makeTree({ 'package.json': '{ "name": "app", "version": "1.0.0", "private": true }\n' }));
    assert.equal(up.status, 201);
    snapshotId = up.body.snapshot_id;
  });

  after(async () => {
    await server?.dispose();
    await gitServer?.close();
    await registry?.close();
    rmSync(gitRoot, { recursive: true, force: true });
  });

  async function commandRun(command: string, network?: unknown): Promise<{ run: any; events: any[] }> {
    const r = await api.post('/api/runs', {
      agent: 'command',
      task: { kind: 'spec', prompt: 'egress', command },
      snapshot_id: snapshotId,
      ...(network ? { network } : {}),
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const run = await waitForRun(api, r.body.id, ['succeeded', 'failed'], 150_000);
    const events = (await readRunEvents(api, r.body.id)).map((e) => e.data);
    return { run, events };
  }

  const output = (events: any[]) =>
    events
      .filter((e) => e.type === 'command.output')
      .map((e) => e.text)
      .join('');

  const cloneUrl = () => `http://x-access-token:${GIT_TOKEN}@git.test:${gitPort}/lib.git`;

  it('clonesOverHttpWhenTheRuleAllowsIt', async () => {
    const { run, events } = await commandRun(`git clone -q ${cloneUrl()} /tmp/lib && cat /tmp/lib/src/lib.js`, {
      mode: 'allowlist',
      allow: [`git.test:${gitPort}`],
    });
    assert.equal(run.status, 'succeeded', output(events));
    assert.match(output(events), /module\.exports = 42/);
    const allowed = events.filter((e) => e.type === 'network.allowed');
    assert.deepEqual(
      allowed.map((e) => [e.host, e.port, e.rule, e.address]),
      [['git.test', gitPort, `git.test:${gitPort}`, '127.0.0.1']],
      'once per host, however many requests the clone made',
    );
    assert.equal(events.filter((e) => e.type === 'network.blocked').length, 0);
    assert.ok(run.network_usage.bytes_received > 500, JSON.stringify(run.network_usage));
    assert.deepEqual(run.network, { mode: 'allowlist', allow: [`git.test:${gitPort}`], deny: [] });
  });

  it('refusesTheCloneWithoutTheRuleAndNamesTheHost', async () => {
    const before = gitServer.refused;
    const { run, events } = await commandRun(`git clone -q ${cloneUrl()} /tmp/lib`, { mode: 'allowlist', allow: ['npm'] });
    assert.equal(run.status, 'failed');
    const blocked = events.filter((e) => e.type === 'network.blocked');
    assert.ok(blocked.length >= 1);
    assert.deepEqual([blocked[0].host, blocked[0].port, blocked[0].rule], ['git.test', gitPort, 'no-rule']);
    assert.equal(gitServer.refused, before);
  });

  it('refusesTheCloneInARunWithoutNetwork', async () => {
    const { run, events } = await commandRun(`git clone -q ${cloneUrl()} /tmp/lib; env | grep -ci _proxy`);
    assert.equal(run.status, 'failed', 'no proxy variables: grep finds none');
    assert.match(output(events), /Could not resolve host|unable to access/);
    assert.equal(run.network, undefined);
  });

  it('installsFromANpmRegistryWhenTheRuleAllowsIt', async () => {
    const reg = `http://registry.test:${registry.port}/`;
    const { run, events } = await commandRun(
      `npm install --no-audit --no-fund --registry ${reg} egress-demo && node -e "console.log(require('egress-demo'))"`,
      { mode: 'allowlist', allow: [`registry.test:${registry.port}`] },
    );
    assert.equal(run.status, 'succeeded', output(events));
    assert.match(output(events), /egress-demo works/);
    assert.deepEqual(
      events.filter((e) => e.type === 'network.allowed').map((e) => e.host),
      ['registry.test'],
    );
  });

  it('failsTheInstallWithoutTheRuleAndNamesTheHost', async () => {
    const reg = `http://registry.test:${registry.port}/`;
    const { run, events } = await commandRun(`npm install --no-audit --no-fund --fetch-retries=0 --registry ${reg} egress-demo`, {
      mode: 'allowlist',
      allow: ['npm'],
    });
    assert.equal(run.status, 'failed');
    const blocked = events.filter((e) => e.type === 'network.blocked');
    assert.ok(blocked.length >= 1, output(events));
    assert.equal(blocked[0].host, 'registry.test');
    assert.equal(blocked[0].rule, 'no-rule');
  });

  it('refusesARunOrSessionAskingForMoreThanTheServerAllows', async () => {
    const runsBefore = (await api.get('/api/runs?limit=200')).body.runs.length;
    for (const network of [
      { mode: 'allowlist', allow: ['pypi'] },
      { mode: 'allowlist', allow: [`git.test:${gitPort + 1}`] },
      { mode: 'allowlist', allow: ['*.test'] },
      { mode: 'open' },
    ]) {
      const r = await api.post('/api/runs', {
        agent: 'command',
        task: { kind: 'spec', prompt: 'x', command: 'true' },
        snapshot_id: snapshotId,
        network,
      });
      assert.equal(r.status, 400, JSON.stringify(network));
      assert.equal(r.body.error_code, 'INVALID_REQUEST');
      assert.match(r.body.message, /^network: /);
      const s = await api.post('/v1/sessions', { network });
      assert.equal(s.status, 400);
      assert.equal(s.body.error_code, 'INVALID_REQUEST');
      const t = await api.call('POST', '/api/sandbox/sessions/', { network }, { headers: { 'x-api-key': server.apiKey } });
      assert.equal(t.status, 400);
      assert.match(t.body.detail, /^network: /);
    }
    const malformed = await api.post('/api/runs', {
      agent: 'command',
      task: { kind: 'spec', prompt: 'x', command: 'true' },
      snapshot_id: snapshotId,
      network: { mode: 'allowlist', allow: ['http://evil.test/'] },
    });
    assert.equal(malformed.status, 400);
    assert.equal((await api.get('/api/runs?limit=200')).body.runs.length, runsBefore, 'no refused request created a run');
  });

  it('allowsARefusedHostForTheRestOfTheRunThroughAFollowUp', async () => {
    const { run, events } = await commandRun(`git clone -q ${cloneUrl()} /tmp/lib`, { mode: 'allowlist', allow: ['npm'] });
    assert.equal(run.status, 'failed');
    assert.equal(events.find((e) => e.type === 'network.blocked')?.host, 'git.test');
    const beyond = await api.post(`/api/runs/${run.id}/messages`, { command: 'true', network: { mode: 'allowlist', allow: ['pypi'] } });
    assert.equal(beyond.status, 400, 'a follow-up is bounded by the server too');
    const allow = { mode: 'allowlist', allow: ['npm', `git.test:${gitPort}`] };
    const r = await api.post(`/api/runs/${run.id}/messages`, {
      command: `git clone -q ${cloneUrl()} /tmp/lib && cat /tmp/lib/README.md`,
      network: allow,
    });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const done = await waitForRun(api, run.id, ['succeeded', 'failed'], 120_000);
    const all = (await readRunEvents(api, run.id)).map((e) => e.data);
    assert.equal(done.status, 'succeeded', output(all));
    assert.match(output(all), /served over http/);
    const followup = all.find((e) => e.type === 'run.followup');
    assert.deepEqual(followup.network.allow, ['registry.npmjs.org', 'registry.yarnpkg.com', `git.test:${gitPort}`]);
    assert.deepEqual(done.network.allow, followup.network.allow);
    assert.equal(all.filter((e) => e.type === 'network.allowed' && e.host === 'git.test').length, 1);
  });

  it('refusesAFollowUpNetworkForARunStartedWithout', async () => {
    const { run } = await commandRun('true');
    const r = await api.post(`/api/runs/${run.id}/messages`, { command: 'true', network: { mode: 'allowlist', allow: ['npm'] } });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /started without network/);
  });

  it('givesAToolkitSessionItsPolicyAcrossAStop', async () => {
    const headers = { 'x-api-key': server.apiKey };
    const created = await api.call(
      'POST',
      '/api/sandbox/sessions/',
      { network: { mode: 'allowlist', allow: [`git.test:${gitPort}`] } },
      { headers },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id;
    assert.deepEqual(created.body.network.allow, [`git.test:${gitPort}`]);
    const shell = (command: string) => api.call('POST', `/api/sandbox/sessions/${id}/shell/`, { command }, { headers });
    assert.match((await shell(`git ls-remote ${cloneUrl()}`)).body.stdout, /refs\/heads\/main/);
    assert.equal((await api.call('POST', `/api/sandbox/sessions/${id}/stop/`, undefined, { headers })).status, 204);
    const again = await shell(`git ls-remote ${cloneUrl()}`);
    assert.match(again.body.stdout, /refs\/heads\/main/, JSON.stringify(again.body));
    const view = await api.call('GET', `/api/sandbox/sessions/${id}/`, undefined, { headers });
    assert.deepEqual(view.body.network.allowed_hosts, [`git.test:${gitPort}`]);
  });
});
