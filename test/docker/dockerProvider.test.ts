// What only the docker provider has to prove, against a real Docker engine
// (the shared contract, isolation and run suites also run against it): the
// hardening of every container, any image with /bin/sh, containers going
// with their sessions, and a clear error when no engine answers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../helpers/apiClient';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

const BUSYBOX_IMAGE = 'astraforge-test-busybox:1';

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

function containerOf(sessionId: string): any {
  const id = docker('ps', '-aq', '--filter', `label=astraforge.session=${sessionId}`);
  assert.ok(id, `no container for session ${sessionId}`);
  return JSON.parse(docker('inspect', id))[0];
}

/** An image of nothing but a static busybox as /bin/sh: no bash, no libc, no passwd. */
function buildBusyboxImage(): void {
  const root = mkdtempSync(join(tmpdir(), 'af-busybox-'));
  try {
    mkdirSync(join(root, 'bin'));
    copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
    for (const tool of ['sh', 'echo', 'cat', 'ls', 'pwd']) symlinkSync('busybox', join(root, 'bin', tool));
    mkdirSync(join(root, 'tmp'));
    execFileSync('sh', ['-c', `tar -C '${root}' -c . | docker import - ${BUSYBOX_IMAGE}`], { stdio: 'ignore' });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

describe('docker provider', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let api: ApiClient;

  before(async () => {
    server = await startServer({ config: { sandbox: 'docker' } });
    api = new ApiClient(server.url, server.apiKey);
  });
  after(async () => {
    await server?.dispose();
  });

  it('hardensEveryContainerByDefault', async () => {
    const id = await api.createSession();
    const c = containerOf(id);
    const h = c.HostConfig;
    assert.equal(h.ReadonlyRootfs, true);
    assert.deepEqual(h.CapDrop, ['ALL']);
    assert.ok(h.SecurityOpt.includes('no-new-privileges'), h.SecurityOpt);
    assert.equal(h.NetworkMode, 'none');
    assert.equal(h.Privileged, false);
    assert.ok(h.PidsLimit > 0 && h.Memory > 0 && h.NanoCpus > 0, 'pids, memory and CPU limits');
    assert.ok(Number(c.Config.User.split(':')[0]) >= 1000, `runs as ${c.Config.User}`);
    // Of the host, only the session's workspace is mounted; the runner came in through the container's own volume.
    const binds = c.Mounts.filter((m: any) => m.Type === 'bind').map((m: any) => m.Destination);
    assert.deepEqual(binds, ['/workspace']);
    assert.ok(c.Mounts.some((m: any) => m.Type === 'volume' && m.Destination === '/.astraforge'));
  });

  it('runsAnyImageWithAShell', async () => {
    buildBusyboxImage();
    const r = await api.post('/v1/sessions', { image: BUSYBOX_IMAGE });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const a = await api.exec(r.body.id, 'cd /tmp && export GREETING=hi');
    assert.equal(a.body.exit_code, 0, JSON.stringify(a.body));
    const b = await api.exec(r.body.id, 'echo $GREETING from $(pwd)');
    assert.equal(b.body.output, 'hi from /tmp\n');
    await api.call('DELETE', `/v1/sessions/${r.body.id}`);
    docker('rmi', '-f', BUSYBOX_IMAGE);
  });

  it('refusesAnImageTheEngineDoesNotHave', async () => {
    const r = await api.post('/v1/sessions', { image: 'astraforge-no-such-image:0' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error_code, 'INVALID_IMAGE');
    assert.match(r.body.message, /no image "astraforge-no-such-image:0" on the Docker engine/);
  });

  it('removesTheContainerWithItsSession', async () => {
    const id = await api.createSession();
    const container = containerOf(id).Id;
    assert.deepEqual((await api.call('DELETE', `/v1/sessions/${id}`)).body, { ok: true });
    assert.equal(docker('ps', '-aq', '--filter', `id=${container}`), '');
  });

  it('saysWhatToDoWhenNoEngineAnswers', async () => {
    const err = await startServer({ config: { sandbox: 'docker', docker: { host: 'unix:///nonexistent/docker.sock' } } }).then(
      async (s) => {
        await s.dispose();
        return undefined;
      },
      (e: Error) => e,
    );
    assert.ok(err, 'the server must not start without an engine');
    assert.match(err.message, /no Docker engine answers at unix:\/\/\/nonexistent\/docker\.sock .*start dockerd .* or set DOCKER_HOST/);
  });
});
