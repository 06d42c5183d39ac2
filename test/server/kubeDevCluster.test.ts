// scripts/dev-cluster.sh as a developer uses it: one line KUBECONFIG=<path>
// once the API answers, a server started with that KUBECONFIG and
// `--sandbox kubernetes` and nothing else runs sessions, and SIGTERM stops
// everything the script started (its API, its pods).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../helpers/apiClient';
import { REPO_ROOT, startServer, type ServerProcess } from '../helpers/serverProcess';
import { until } from '../helpers/until';

function podPids(): number[] {
  // The double's pods run as this host uid (test/helpers/kube/podProcess.ts).
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      if (/^Uid:\s+61000\s/m.test(status)) out.push(Number(pid));
    } catch {
      /* gone */
    }
  }
  return out;
}

// These name their provider themselves: the test command's pass against Docker would only repeat them.
const OTHER_PROVIDER_PASS = process.env.ASTRAFORGE_TEST_SANDBOX === 'docker';

describe('scripts/dev-cluster.sh', function () {
  before(function () {
    if (OTHER_PROVIDER_PASS) this.skip();
  });
  this.timeout(90_000);
  let script: ChildProcess | undefined;
  let server: ServerProcess | undefined;

  afterEach(async () => {
    await server?.dispose();
    if (script && script.exitCode === null) script.kill('SIGKILL');
  });

  it('printsItsKubeconfigServesAServerWithNoOtherSettingAndStopsOnSigterm', async () => {
    const before = new Set(podPids());
    script = spawn('bash', [join(REPO_ROOT, 'scripts/dev-cluster.sh')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ASTRAFORGE_DEV_CLUSTER_WARM: '1' },
    });
    let out = '';
    let err = '';
    script.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    script.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => script!.once('exit', (code) => r(code)));
    const line = await until(
      () => `the KUBECONFIG line (stdout ${JSON.stringify(out)}, stderr ${err})`,
      () => /^KUBECONFIG=(.+)\n/.exec(out)?.[1],
      { timeoutMs: 60_000 },
    );
    assert.equal(out.trim().split('\n').length, 1, 'exactly one line');
    assert.ok(existsSync(line));

    // Only the kubeconfig and the provider: namespace, templates and warm pool come from the cluster.
    server = await startServer({ config: { sandbox: 'kubernetes' }, env: { KUBECONFIG: line } });
    const api = new ApiClient(server.url, server.apiKey);
    const id = await api.createSession();
    const r = await api.exec(id, 'echo "in $(hostname)"; id -u');
    assert.equal(r.status, 200);
    assert.match(
      r.body.output,
      /^in (astraforge-runc|af-[a-z0-9]+)-[0-9a-f]{6}\n1000\n$/,
      'a pod of the warm pool, or a cold one of the claim',
    );
    await server.dispose();
    server = undefined;

    const ours = podPids().filter((p) => !before.has(p));
    assert.ok(ours.length > 0, 'the warm pool has pods');
    script.kill('SIGTERM');
    assert.equal(await exited, 0, err);
    await until('its pods gone', () => ours.every((p) => !existsSync(`/proc/${p}`)));
    assert.ok(!existsSync(line), 'its files are removed');
  });
});
