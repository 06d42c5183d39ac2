// Which environment a workspace asks for, and its key: environment.json over
// devcontainer.json over none, defaults filled in, lockfiles found, JSON
// with comments read, and a key that changes exactly when it should.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_AGENT_NETWORK, DEFAULT_SETUP_NETWORK } from '@astraforge/contract/environment';
import {
  EnvironmentFileError,
  environmentKey,
  resolveEnvironment,
  treeFiles,
  type SnapshotFiles,
} from '../../server/src/environments/environmentDefinition';

const trees: string[] = [];

/** A tree on disk and the manifest the snapshot store would have written for it. */
function snapshot(files: Record<string, string>, symlinks: Record<string, string> = {}): SnapshotFiles {
  const dir = mkdtempSync(join(tmpdir(), 'af-envdef-'));
  trees.push(dir);
  const manifest = new Map<string, { sha256: string; type: string }>();
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
    manifest.set(path, { sha256: createHash('sha256').update(content).digest('hex'), type: 'file' });
  }
  for (const [path, target] of Object.entries(symlinks)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    symlinkSync(target, join(dir, path));
    manifest.set(path, { sha256: '', type: 'symlink' });
  }
  return treeFiles([dir], manifest);
}

const PKG = { 'package.json': '{"name":"app"}', 'package-lock.json': '{"lockfileVersion":3}' };

describe('environment definition', () => {
  after(() => {
    for (const t of trees) rmSync(t, { recursive: true, force: true });
  });

  it('readsEnvironmentJsonWithDefaults', () => {
    const def = resolveEnvironment(
      snapshot({
        ...PKG,
        'api/requirements-dev.txt': 'pytest\n',
        'node_modules/x/package-lock.json': '{}',
        '.astraforge/environment.json': '{"setup": "npm ci", "env": {"CI": "1"}}',
      }),
    );
    assert.deepEqual(def, {
      source: 'environment.json',
      setup: 'npm ci',
      setupTimeoutSeconds: 600,
      keyFiles: ['api/requirements-dev.txt', 'package-lock.json'],
      network: { setup: DEFAULT_SETUP_NETWORK, agent: DEFAULT_AGENT_NETWORK },
      env: { CI: '1' },
    });
  });

  it('takesTheFilesOwnKeyFilesNetworkAndImage', () => {
    const def = resolveEnvironment(
      snapshot({
        ...PKG,
        '.astraforge/environment.json': JSON.stringify({
          setup: 'make deps',
          cache_key_files: ['deps.txt'],
          network: { setup: { mode: 'open' } },
          image: 'node:20',
          setup_timeout_seconds: 30,
        }),
      }),
    )!;
    assert.deepEqual(def.keyFiles, ['deps.txt']);
    assert.deepEqual(def.network.setup, { mode: 'open', allow: [], deny: [] });
    assert.deepEqual(def.network.agent, DEFAULT_AGENT_NETWORK);
    assert.equal(def.image, 'node:20');
    assert.equal(def.setupTimeoutSeconds, 30);
  });

  it('fallsBackToDevcontainerJsonWithCommentsAndEveryCommandForm', () => {
    const def = resolveEnvironment(
      snapshot({
        ...PKG,
        '.devcontainer/devcontainer.json': `{
          // the image
          "image": "mcr.microsoft.com/devcontainers/typescript-node:20",
          /* run in order */
          "postCreateCommand": {"deps": "npm ci", "build": ["npm", "run", "build it"]},
          "onCreateCommand": "echo 'on // create'",
          "updateContentCommand": ["git", "status"],
          "containerEnv": {"A": "1", "HOME_DIR": "\${localEnv:HOME}"},
        }`,
      }),
    )!;
    assert.equal(def.source, 'devcontainer.json');
    assert.equal(def.image, 'mcr.microsoft.com/devcontainers/typescript-node:20');
    assert.equal(def.setup, "echo 'on // create' && git status && (npm ci) && (npm run 'build it')");
    assert.deepEqual(def.env, { A: '1' });
    assert.deepEqual(def.keyFiles, ['package-lock.json']);
  });

  it('prefersEnvironmentJsonAndHasNoneWithoutEither', () => {
    const both = snapshot({
      '.astraforge/environment.json': '{"setup":"a"}',
      '.devcontainer/devcontainer.json': '{"postCreateCommand":"b"}',
    });
    assert.equal(resolveEnvironment(both)!.setup, 'a');
    assert.equal(resolveEnvironment(snapshot(PKG)), undefined);
  });

  it('refusesAnInvalidFileSayingWhere', () => {
    assert.throws(
      () => resolveEnvironment(snapshot({ '.astraforge/environment.json': '{"setup": "x", "network": {"agent": {"mode": "all"}}}' })),
      (e: Error) => e instanceof EnvironmentFileError && /network\.agent\.mode/.test(e.message),
    );
    assert.throws(() => resolveEnvironment(snapshot({ '.astraforge/environment.json': '{"setup": ' })), EnvironmentFileError);
  });

  it('neverReadsThroughASymlink', () => {
    const secret = mkdtempSync(join(tmpdir(), 'af-secret-'));
    trees.push(secret);
    writeFileSync(join(secret, 'env.json'), '{"setup": "leak"}');
    mkdirSync(join(secret, 'dir'));
    writeFileSync(join(secret, 'dir', 'environment.json'), '{"setup": "leak"}');
    assert.equal(resolveEnvironment(snapshot({}, { '.astraforge/environment.json': join(secret, 'env.json') })), undefined);
    assert.equal(resolveEnvironment(snapshot({}, { '.astraforge': join(secret, 'dir') })), undefined);
  });

  it('keysByTheSetupTheImageTheVariablesAndTheKeyFilesContents', () => {
    const make = (lock: string, envFile: object) =>
      snapshot({
        'package.json': '{}',
        'package-lock.json': lock,
        'README.md': String(Math.random()),
        '.astraforge/environment.json': JSON.stringify(envFile),
      });
    const key = (files: SnapshotFiles) => environmentKey(resolveEnvironment(files)!, files);
    const base = key(make('v1', { setup: 'npm ci' }));
    assert.match(base, /^[a-f0-9]{32}$/);
    assert.equal(key(make('v1', { setup: 'npm ci' })), base, 'other files do not matter');
    assert.notEqual(key(make('v2', { setup: 'npm ci' })), base, 'the lockfile does');
    assert.notEqual(key(make('v1', { setup: 'npm install' })), base, 'the setup does');
    assert.notEqual(key(make('v1', { setup: 'npm ci', image: 'node:22' })), base, 'the image does');
    assert.notEqual(key(make('v1', { setup: 'npm ci', env: { NODE_ENV: 'test' } })), base, 'the variables do');
    assert.equal(key(make('v1', { setup: 'npm ci', network: { agent: { mode: 'none' } } })), base, 'the agent network does not');
  });
});
