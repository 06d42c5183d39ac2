// A project environment made by the real tools: `npm ci` against a real npm
// registry on loopback (verdaccio, holding a package this test publishes),
// reached from the setup's sandbox through the egress proxy by the rule the
// project's environment.json asks for and the server allows. The project's
// `npm test` passes in the run only because the environment installed its
// dependency; the next run reuses it without fetching anything; a changed
// lockfile builds a new one. ASTRAFORGE_TEST_SANDBOX=docker runs it on
// Docker, in an image made here from the sandbox image plus this host's node
// and npm (the sandbox image has Debian's node without npm).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RunEventName } from '@astraforge/contract/runEvents';
import { ApiClient } from '../helpers/apiClient';
import { readRunEvents, uploadTree, waitForRun } from '../helpers/runHelpers';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { DOCKER } from './egressStandIns';
import { buildNpmImage, NPM_IMAGE, startNpmRegistry, type NpmRegistry } from '../helpers/npmRegistry';

const run = promisify(execFile);

interface RunResult {
  run: any;
  events: any[];
  output: string;
}

function ofType(events: any[], type: string): any[] {
  return events.filter((e) => e.type === type);
}

describe('project environments with npm ci from a real registry', function () {
  this.timeout(600_000);
  let registry: NpmRegistry;
  let server: ServerProcess;
  let api: ApiClient;
  const trees: string[] = [];
  let host: string;

  before(async () => {
    if (DOCKER) await buildNpmImage();
    registry = await startNpmRegistry();
    host = `registry.test:${registry.port}`;
    await registry.publish('greet', '1.0.0', { 'index.js': "module.exports = () => 'hello from the registry';\n" });
    await registry.publish('greet', '2.0.0', { 'index.js': "module.exports = () => 'bonjour from the registry';\n" });
    server = await startServer({
      // Its log says how each snapshot's layer was made: a failed run's message carries it (why).
      env: { ASTRAFORGE_LOG_LEVEL: 'info' },
      config: {
        pool: { size: 0 },
        network: { allow: [host], resolve: { 'registry.test': '127.0.0.1' }, allowPrivate: [`127.0.0.1:${registry.port}`] },
      },
    });
    api = new ApiClient(server.url, server.apiKey);
  });

  after(async () => {
    await server?.dispose();
    await registry?.close();
    for (const t of trees) rmSync(t, { recursive: true, force: true });
  });

  /** The project: `npm test` needs greet; its lockfile made by npm against the registry, under the name the sandbox reaches it by. */
  async function project(greetVersion: string, withEnvironment = true): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'af-npmproj-'));
    trees.push(dir);
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'app',
        version: '1.0.0',
        private: true,
        scripts: { test: 'node test.js' },
        dependencies: { greet: greetVersion },
      }),
    );
    writeFileSync(
      join(dir, 'test.js'),
      "const greet = require('greet');\nif (!/from the registry/.test(greet())) process.exit(1);\nconsole.log('tests pass: ' + greet());\n",
    );
    writeFileSync(join(dir, 'README.md'), '# app\n');
    await run('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund', '--registry', `http://127.0.0.1:${registry.port}/`], {
      cwd: dir,
    });
    // npm may write each package's URL (then under the name the sandbox knows), or leave it to the configured registry.
    const lock = join(dir, 'package-lock.json');
    writeFileSync(lock, readFileSync(lock, 'utf8').replaceAll(`127.0.0.1:${registry.port}`, host));
    assert.equal(JSON.parse(readFileSync(lock, 'utf8')).packages['node_modules/greet'].version, greetVersion);
    writeFileSync(join(dir, '.npmrc'), `registry=http://${host}/\n`);
    if (withEnvironment) {
      mkdirSync(join(dir, '.astraforge'));
      writeFileSync(
        join(dir, '.astraforge', 'environment.json'),
        JSON.stringify({
          setup: 'npm ci --no-audit --no-fund --fetch-retries=0',
          network: { setup: { mode: 'allowlist', allow: [host] }, agent: { mode: 'none' } },
          ...(DOCKER ? { image: NPM_IMAGE } : {}),
        }),
      );
    }
    return dir;
  }

  async function snapshotOf(dir: string): Promise<string> {
    const r = await uploadTree(api, dir);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.ok(r.body.files >= 4, `the snapshot holds the project: ${JSON.stringify(r.body)}`);
    return r.body.snapshot_id;
  }

  async function npmTest(snapshotId: string, command = 'npm test'): Promise<RunResult> {
    const r = await api.post('/api/runs', {
      agent: 'command',
      task: { kind: 'spec', prompt: 'run the tests', command },
      snapshot_id: snapshotId,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const done = await waitForRun(api, r.body.id, ['succeeded', 'failed', 'cancelled'], 300_000);
    const events = (await readRunEvents(api, done.id)).map((e) => e.data);
    const output = events
      .filter((e) => e.type === RunEventName.commandOutput || e.type === RunEventName.environmentSetupOutput)
      .map((e) => e.text)
      .join('');
    return { run: done, events, output };
  }

  /** What to read when a run failed: its output and the server's story of its snapshot's layer and environment. */
  function why(r: RunResult): string {
    const lines = server
      .output()
      .split('\n')
      .filter((l) => l.includes(r.run.snapshot_id) || l.includes(r.run.id));
    return `${r.output}${r.run.error ?? ''}\n-- server log of this run and its snapshot:\n${lines.join('\n')}`;
  }

  it('npmTestPassesOnlyBecauseNpmCiInstalledTheEnvironmentAndTheNextRunReusesIt', async function () {
    // The same project without an environment: its tests cannot find greet (the snapshot has no node_modules).
    // (node, not npm: the plain sandbox image has no npm.)
    const bare = await npmTest(await snapshotOf(await project('1.0.0', false)), 'node test.js');
    assert.equal(bare.run.status, 'failed');
    assert.match(bare.output, /Cannot find module 'greet'/);

    const tree = await project('1.0.0');
    const first = await npmTest(await snapshotOf(tree));
    assert.equal(first.run.status, 'succeeded', why(first));
    assert.match(first.output, /tests pass: hello from the registry/);
    const started = ofType(first.events, RunEventName.environmentSetupStarted);
    assert.equal(started.length, 1);
    assert.match(started[0].command, /^npm ci/);
    assert.equal(ofType(first.events, RunEventName.environmentSetupFinished)[0].exit_code, 0);
    const ready = ofType(first.events, RunEventName.environmentReady)[0];
    assert.equal(ready.cached, false);
    assert.ok(ready.bytes > 0);
    assert.deepEqual(registry.tarballs, ['/greet/-/greet-1.0.0.tgz'], 'npm ci fetched greet from the registry');
    // The agent's phase has no network (agent: none): greet can only have come from the environment.
    assert.equal(first.run.network, undefined);
    assert.deepEqual((await api.get(`/api/runs/${first.run.id}/diff`)).body.files, [], 'node_modules is not in the diff');

    // Another upload of the same project after an edit: same lockfile, same environment, no setup, no fetch.
    writeFileSync(join(tree, 'README.md'), '# app, edited\n');
    const second = await npmTest(await snapshotOf(tree));
    assert.equal(second.run.status, 'succeeded', why(second));
    assert.match(second.output, /tests pass: hello from the registry/);
    assert.equal(ofType(second.events, RunEventName.environmentSetupStarted).length, 0, 'setup did not run again');
    const readyAgain = ofType(second.events, RunEventName.environmentReady)[0];
    assert.deepEqual([readyAgain.cached, readyAgain.key], [true, ready.key]);
    assert.equal(registry.tarballs.length, 1, 'nothing fetched again');

    // The lockfile moves to greet 2.0.0: a new environment, built by npm ci again.
    const upgraded = await project('2.0.0');
    const third = await npmTest(await snapshotOf(upgraded));
    assert.equal(third.run.status, 'succeeded', why(third));
    assert.match(third.output, /tests pass: bonjour from the registry/);
    assert.equal(ofType(third.events, RunEventName.environmentSetupStarted).length, 1);
    const readyNew = ofType(third.events, RunEventName.environmentReady)[0];
    assert.equal(readyNew.cached, false);
    assert.notEqual(readyNew.key, ready.key);
    assert.deepEqual(registry.tarballs, ['/greet/-/greet-1.0.0.tgz', '/greet/-/greet-2.0.0.tgz']);
  });

  it('failsTheSetupAndNamesTheRegistryWhenTheProjectDoesNotAskForIt', async () => {
    const tree = await project('1.0.0');
    const envFile = join(tree, '.astraforge', 'environment.json');
    const def = JSON.parse(readFileSync(envFile, 'utf8'));
    def.network.setup = { mode: 'none' };
    def.setup += ' && echo different-key';
    writeFileSync(envFile, JSON.stringify(def));
    const before = registry.tarballs.length;
    const r = await npmTest(await snapshotOf(tree));
    assert.equal(r.run.status, 'failed');
    assert.match(
      r.run.error,
      /environment setup failed/,
      why(r) + JSON.stringify(r.events.filter((e) => e.type !== RunEventName.commandOutput)),
    );
    assert.notEqual(ofType(r.events, RunEventName.environmentSetupFinished)[0].exit_code, 0);
    assert.match(r.output, /registry\.test/, 'npm says which registry it could not reach');
    assert.equal(ofType(r.events, RunEventName.sandboxReady).length, 0, 'the agent never started');
    assert.equal(registry.tarballs.length, before, 'nothing reached the registry');
  });
});
