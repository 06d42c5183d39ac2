// Project environments end to end on a real server and a real sandbox: a
// Node project whose tests pass in the run only because its environment's
// setup (npm ci --offline against a vendored tarball; the sandbox has no
// network until egress lands) installed its dependency; the environment kept
// and reused by the next run, rebuilt when the lockfile changes, evicted over
// the cache's size; devcontainer.json as the fallback; overlay and copy
// workspaces alike. ASTRAFORGE_TEST_SANDBOX=docker runs it on Docker.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RunEventName } from '@astraforge/contract/runEvents';
import { ApiClient } from '../helpers/apiClient';
import { readRunEvents, uploadTree, waitForRun } from '../helpers/runHelpers';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

/** npm where the sandbox has it (bwrap: the host's); plain tar otherwise (the Docker image has node but no npm). */
const SETUP =
  'if command -v npm >/dev/null; then npm ci --offline --no-audit --no-fund; ' +
  'else mkdir -p node_modules/greet && tar -xzf vendor/greet-$(node -p "require(\'./package.json\').dependencies.greet.match(/greet-(.*)\\.tgz/)[1]").tgz -C node_modules/greet --strip-components=1; fi; ' +
  'echo "set up by the environment" > stamp.txt';

/** Not execFileSync: a blocked event loop misses the server closing an idle keep-alive socket, and the next upload goes out empty. */
const run = promisify(execFile);

/**
 * Docker starts the image a devcontainer names (this engine has no registry: the test image);
 * bubblewrap has no images and runs on the host's system folders whatever it says.
 */
const DEVCONTAINER_IMAGE =
  process.env.ASTRAFORGE_TEST_SANDBOX === 'docker' ? 'astraforge-sandbox:bookworm' : 'mcr.microsoft.com/devcontainers/javascript-node:20';

/** A packed package `greet` whose function returns `word`. */
async function packGreet(version: string, word: string): Promise<{ name: string; bytes: Buffer }> {
  const dir = mkdtempSync(join(tmpdir(), 'af-greet-'));
  try {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'greet', version, main: 'index.js' }));
    writeFileSync(join(dir, 'index.js'), `module.exports = () => ${JSON.stringify(word)};\n`);
    const name = (await run('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: dir })).stdout.trim();
    return { name, bytes: readFileSync(join(dir, name)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The project: its test needs `greet`; its lockfile made offline by npm itself. */
async function makeProject(opts: {
  version: string;
  word: string;
  definition: 'environment.json' | 'devcontainer.json' | 'none';
}): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'af-envproj-'));
  const greet = await packGreet(opts.version, opts.word);
  mkdirSync(join(dir, 'vendor'));
  writeFileSync(join(dir, 'vendor', greet.name), greet.bytes);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'app',
      version: '1.0.0',
      scripts: { test: 'node test.js' },
      dependencies: { greet: `file:vendor/${greet.name}` },
    }),
  );
  writeFileSync(
    join(dir, 'test.js'),
    `const greet = require('greet');\nif (greet() !== ${JSON.stringify(opts.word)}) { console.error('wrong greeting'); process.exit(1); }\nconsole.log('tests pass: ' + greet() + ' ' + (process.env.GREETING_MOOD || ''));\n`,
  );
  writeFileSync(join(dir, 'README.md'), '# app\n');
  writeFileSync(join(dir, 'stamp.txt'), 'tracked, rewritten by setup\n');
  await run('npm', ['install', '--package-lock-only', '--offline', '--no-audit', '--no-fund', '--silent'], { cwd: dir });
  if (opts.definition === 'environment.json') {
    mkdirSync(join(dir, '.astraforge'));
    writeFileSync(
      join(dir, '.astraforge', 'environment.json'),
      JSON.stringify({ setup: SETUP, env: { GREETING_MOOD: 'cheerful' }, network: { setup: { mode: 'none' }, agent: { mode: 'none' } } }),
    );
  } else if (opts.definition === 'devcontainer.json') {
    mkdirSync(join(dir, '.devcontainer'));
    writeFileSync(
      join(dir, '.devcontainer', 'devcontainer.json'),
      `// a dev container, as VS Code writes them\n{\n  "name": "app",\n  "image": ${JSON.stringify(DEVCONTAINER_IMAGE)},\n  "postCreateCommand": ${JSON.stringify(SETUP)}, // installs\n  "containerEnv": { "GREETING_MOOD": "contained" },\n}\n`,
    );
  }
  return dir;
}

async function snapshotOf(api: ApiClient, dir: string): Promise<string> {
  const r = await uploadTree(api, dir);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.ok(r.body.files > 0, `uploaded ${JSON.stringify(r.body)} of ${dir}: ${readdirSync(dir).join(', ')}`);
  return r.body.snapshot_id;
}

interface RunResult {
  run: any;
  events: any[];
  output: string;
}

async function runCommand(api: ApiClient, snapshotId: string, command: string): Promise<RunResult> {
  const r = await api.post('/api/runs', { agent: 'command', task: { kind: 'spec', prompt: 'test', command }, snapshot_id: snapshotId });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const run = await waitForRun(api, r.body.id, ['succeeded', 'failed', 'cancelled'], 180_000);
  const events = (await readRunEvents(api, run.id)).map((e) => e.data);
  const output = events
    .filter((e) => e.type === RunEventName.commandOutput)
    .map((e) => e.text)
    .join('');
  return { run, events, output };
}

function ofType(events: any[], type: string): any[] {
  return events.filter((e) => e.type === type);
}

/** The kernel's overlayfs (auto, as root), fuse-overlayfs where Debian's package is installed, and the copy fallback. */
const LAYERINGS = ['auto', ...(existsSync('/usr/bin/fuse-overlayfs') ? (['fuse-overlayfs'] as const) : []), 'copy'] as const;

for (const layering of LAYERINGS) {
  describe(`project environments (${layering} workspaces)`, function () {
    this.timeout(600_000);
    let dataDir: string;
    let server: ServerProcess;
    let api: ApiClient;
    const trees: string[] = [];

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'af-env-'));
      // Room for one small environment: a second one evicts the first unless a live sandbox stands on it.
      server = await startServer({ dataDir, config: { workspaceLayers: layering, environments: { maxBytes: 20_000 } } });
      api = new ApiClient(server.url, server.apiKey);
    });
    after(async () => {
      await server?.dispose();
      if (!process.env.KEEP) rmSync(dataDir, { recursive: true, force: true });
      else console.log(dataDir);
      for (const t of trees) rmSync(t, { recursive: true, force: true });
    });

    async function project(opts: Parameters<typeof makeProject>[0]): Promise<string> {
      const dir = await makeProject(opts);
      trees.push(dir);
      return dir;
    }

    it('theTestsPassOnlyBecauseTheEnvironmentIsThereAndTheNextRunReusesIt', async () => {
      const bare = await snapshotOf(api, await project({ version: '1.0.0', word: 'hello', definition: 'none' }));
      const without = await runCommand(api, bare, 'node test.js');
      assert.equal(without.run.status, 'failed', 'without an environment greet is not installed');
      assert.match(without.output, /Cannot find module 'greet'/);
      assert.equal(ofType(without.events, RunEventName.environmentReady).length, 0);

      const tree = await project({ version: '1.0.0', word: 'hello', definition: 'environment.json' });
      const snap = await snapshotOf(api, tree);
      const first = await runCommand(api, snap, 'node test.js && echo "# more" >> README.md');
      assert.equal(first.run.status, 'succeeded', first.output + JSON.stringify(first.events.slice(-3)));
      assert.match(first.output, /tests pass: hello cheerful/, 'the env variables reach the agent');
      const started = ofType(first.events, RunEventName.environmentSetupStarted);
      assert.equal(started.length, 1);
      assert.equal(started[0].source, 'environment.json');
      const finished = ofType(first.events, RunEventName.environmentSetupFinished);
      assert.equal(finished[0].exit_code, 0);
      const ready = ofType(first.events, RunEventName.environmentReady);
      assert.equal(ready.length, 1);
      assert.equal(ready[0].cached, false);
      assert.equal(ready[0].key, started[0].key);
      // Setup, then the sandbox of the run.
      const types = first.events.map((e) => e.type);
      assert.ok(types.indexOf(RunEventName.environmentReady) < types.indexOf(RunEventName.sandboxReady));

      // The diff is the agent's alone: not node_modules, not the tracked file setup rewrote.
      const diff = (await api.get(`/api/runs/${first.run.id}/diff`)).body;
      assert.deepEqual(
        diff.files.map((f: any) => f.path),
        ['README.md'],
      );

      // A new snapshot of the same project (another upload): same key, the environment is reused.
      writeFileSync(join(tree, 'README.md'), '# app, edited\n');
      const again = await runCommand(api, await snapshotOf(api, tree), 'node test.js && echo "the agent" >> stamp.txt');
      assert.equal(again.run.status, 'succeeded', again.output);
      // A tracked file setup rewrote is the agent's to change: then it is in the diff, against the snapshot's content.
      const againDiff = (await api.get(`/api/runs/${again.run.id}/diff`)).body;
      assert.deepEqual(
        againDiff.files.map((f: any) => f.path),
        ['stamp.txt'],
      );
      assert.match(againDiff.files[0].patch, /-tracked, rewritten by setup\n\+set up by the environment\n\+the agent/);
      assert.equal(ofType(again.events, RunEventName.environmentSetupStarted).length, 0, 'setup did not run again');
      const readyAgain = ofType(again.events, RunEventName.environmentReady);
      assert.equal(readyAgain[0].cached, true);
      assert.equal(readyAgain[0].key, ready[0].key);
    });

    it('aChangedLockfileBuildsANewEnvironmentAndTheCacheEvictsTheLeastRecentlyUsed', async () => {
      const v1 = await project({ version: '1.0.0', word: 'hi', definition: 'environment.json' });
      const v2 = await project({ version: '2.0.0', word: 'bonjour', definition: 'environment.json' });
      const a = await runCommand(api, await snapshotOf(api, v1), 'node test.js');
      assert.equal(a.run.status, 'succeeded', a.output);
      const keyA = ofType(a.events, RunEventName.environmentReady)[0].key;
      // Its sandbox ends, so nothing stands on environment A any more.
      await api.delete(`/v1/sessions/${a.run.session_id}`);

      const b = await runCommand(api, await snapshotOf(api, v2), 'node test.js');
      assert.equal(b.run.status, 'succeeded', b.output);
      assert.match(b.output, /tests pass: bonjour/);
      const readyB = ofType(b.events, RunEventName.environmentReady)[0];
      assert.notEqual(readyB.key, keyA, 'another lockfile, another environment');
      assert.equal(readyB.cached, false);
      assert.equal(ofType(b.events, RunEventName.environmentSetupStarted).length, 1);

      // A did not fit beside B: evicted, so the next run with A's lockfile sets up again.
      const kept = readdirSync(join(server.dataDir, 'layers', 'environments')).filter((n) => /^[a-f0-9]{32}$/.test(n));
      assert.ok(!kept.includes(keyA), `A was evicted (kept: ${kept.join(', ')})`);
      assert.ok(kept.includes(readyB.key));
      const a2 = await runCommand(api, await snapshotOf(api, v1), 'node test.js');
      assert.equal(a2.run.status, 'succeeded', a2.output);
      const readyA2 = ofType(a2.events, RunEventName.environmentReady)[0];
      assert.equal(readyA2.key, keyA);
      assert.equal(readyA2.cached, false);
    });

    it('readsDevcontainerJsonWhenThereIsNoEnvironmentFile', async () => {
      const snap = await snapshotOf(api, await project({ version: '3.0.0', word: 'hallo', definition: 'devcontainer.json' }));
      const r = await runCommand(api, snap, 'node test.js');
      assert.equal(r.run.status, 'succeeded', r.output + (r.run.error ?? ''));
      assert.match(r.output, /tests pass: hallo contained/);
      assert.equal(ofType(r.events, RunEventName.environmentSetupStarted)[0].source, 'devcontainer.json');
      assert.equal(ofType(r.events, RunEventName.environmentReady)[0].source, 'devcontainer.json');
      // Its setup needs no network: the default policy (the package registries), narrowed by this server, goes unsaid
      // (said when a setup fails: failsTheRunWithTheSetupsOutputWhenSetupFails).
      const setupOutput = ofType(r.events, RunEventName.environmentSetupOutput)
        .map((e) => e.text)
        .join('');
      assert.doesNotMatch(setupOutput, /left out/);
    });

    it('failsTheRunWithTheSetupsOutputWhenSetupFails', async () => {
      const tree = await project({ version: '4.0.0', word: 'hej', definition: 'none' });
      mkdirSync(join(tree, '.astraforge'));
      writeFileSync(join(tree, '.astraforge', 'environment.json'), JSON.stringify({ setup: 'echo no registry here >&2; exit 3' }));
      const r = await runCommand(api, await snapshotOf(api, tree), 'true');
      assert.equal(r.run.status, 'failed');
      assert.match(r.run.error, /environment setup failed with exit code 3/);
      assert.match(
        ofType(r.events, RunEventName.environmentSetupOutput)
          .map((e) => e.text)
          .join(''),
        /no registry here[\s\S]*astraforge: network for the setup: .* left out, beyond what this server allows/,
        'a failed setup is told the registries it could not have reached',
      );
      assert.equal(ofType(r.events, RunEventName.environmentSetupFinished)[0].exit_code, 3);
      assert.equal(ofType(r.events, RunEventName.sandboxReady).length, 0);
    });
  });
}
