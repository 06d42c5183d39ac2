// From a production alert to a draft pull request, on the real server with
// real bubblewrap: a webhook for the shop's failing `cartTotal` starts an
// error run on a clone the server made itself (through a real git server on
// loopback, at the release's commit), the command agent fixes it and runs
// the tests, and the fix is pushed on astraforge/<issue>-<run> (checked with
// git) and proposed as a draft on GitHub or GitLab stand-ins that check the
// documented REST contracts. Tokens never reach a sandbox, a log or an event.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { buildTaskPrompt } from '../../server/src/agents/prompts/taskPrompt';
import { ApiClient } from '../helpers/apiClient';
import { readRunEvents } from '../helpers/runHelpers';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import {
  fixture,
  git,
  makeShopRepo,
  sentryHeaders,
  SHOP_FILES,
  SHOP_FIX,
  startApiStandIn,
  startGitServer,
  type ApiStandIn,
  type GitServer,
  type ShopRepo,
} from './alertsStandIns';

const CLIENT_SECRET = 'sentry-client-secret-e2e';
const GLITCHTIP_HOOK_TOKEN = 'glitchtip-hook-token-e2e';
const TOKENS = {
  sentry: 'sentry-api-token-e2e-0001',
  glitchtip: 'glitchtip-api-token-e2e-0002',
  github: 'github-token-e2e-0003',
  gitlab: 'gitlab-token-e2e-0004',
};
const GIT_TOKEN = 'git-push-token-e2e-0005';
const ALL_SECRETS = [CLIENT_SECRET, GLITCHTIP_HOOK_TOKEN, GIT_TOKEN, ...Object.values(TOKENS)];
const DONE = ['proposed', 'fixed', 'no_changes', 'blocked', 'failed', 'closed'];

describe('alerts to fixes', function () {
  this.timeout(240_000);
  let gitRoot: string;
  let gitServer: GitServer;
  let apis: ApiStandIn;
  let server: ServerProcess;
  let api: ApiClient;
  const repos: Record<string, ShopRepo> = {};

  const config = (cappedPerHour: number) => {
    const project = (repo: string, extra: Record<string, unknown>) => ({
      repository: `${gitServer.url}/${repo}.git`,
      branch: 'main',
      agent: 'command',
      command: SHOP_FIX,
      gitCredentials: { username: 'x-access-token', token: { env: 'TEST_GIT_TOKEN' } },
      ...extra,
    });
    return {
      alerts: {
        sentry: { clientSecret: CLIENT_SECRET, apiUrl: `${apis.url}/sentry`, apiToken: { env: 'TEST_SENTRY_TOKEN' } },
        glitchtip: { token: GLITCHTIP_HOOK_TOKEN, apiUrl: `${apis.url}/glitchtip`, apiToken: TOKENS.glitchtip },
        publicUrl: 'https://astraforge.example',
        author: { name: 'AstraForge Bot', email: 'bot@shop.example' },
        projects: {
          'web-shop': project('shop-gh', {
            protectedPaths: ['config/'],
            pullRequest: { provider: 'github', apiUrl: `${apis.url}/github`, repo: 'acme/shop', token: { env: 'TEST_GITHUB_TOKEN' } },
          }),
          'web-shop-eu': project('shop-gl', {
            pullRequest: { provider: 'gitlab', apiUrl: `${apis.url}/gitlab/api/v4`, repo: 'acme/shop-eu', token: TOKENS.gitlab },
          }),
          locked: project('shop-locked', {
            command: "sed -i 's/live/test/' config/production.json && node test/cart.test.js || true",
            protectedPaths: ['config/'],
            pullRequest: { provider: 'github', apiUrl: `${apis.url}/github`, repo: 'acme/locked', token: TOKENS.github },
          }),
          capped: project('shop-capped', { command: 'node -e "process.exit(0)"', maxRunsPerHour: cappedPerHour }),
        },
      },
    };
  };
  const env = { TEST_GIT_TOKEN: GIT_TOKEN, TEST_SENTRY_TOKEN: TOKENS.sentry, TEST_GITHUB_TOKEN: TOKENS.github };

  before(async () => {
    gitRoot = mkdtempSync(join(tmpdir(), 'af-git-'));
    for (const name of ['shop-gh', 'shop-gl', 'shop-locked', 'shop-capped']) repos[name] = makeShopRepo(gitRoot, name);
    gitServer = await startGitServer(gitRoot, GIT_TOKEN);
    apis = await startApiStandIn(TOKENS, (issueId) => {
      if (issueId !== '7171') return undefined;
      const event = fixture('sentry-latest-event.json');
      return JSON.parse(JSON.stringify(event).replaceAll('RELEASE_PLACEHOLDER', `shop-eu@${repos['shop-gl'].release}`));
    });
    server = await startServer({ config: config(1), env });
    api = new ApiClient(server.url, server.apiKey);
  });
  after(async () => {
    await server?.dispose();
    await gitServer?.close();
    await apis?.close();
    if (gitRoot) rmSync(gitRoot, { recursive: true, force: true });
  });

  async function sendSentry(resource: string, payload: unknown) {
    const body = JSON.stringify(payload);
    const res = await request(`${server.url}/api/hooks/sentry`, {
      method: 'POST',
      headers: sentryHeaders(CLIENT_SECRET, body, resource),
      body,
    });
    return { status: res.statusCode, body: (await res.body.json()) as any };
  }

  async function waitForAlert(id: string, statuses = DONE, timeoutMs = 120_000): Promise<any> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const alert = (await api.get(`/api/alerts/${id}`)).body;
      if (statuses.includes(alert.status)) return alert;
      if (Date.now() > until) throw new Error(`alert ${id} is ${alert.status}: ${JSON.stringify(alert)}\n${server.output().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  function shopEventAlert(issueId: string, project: string, release?: string) {
    const payload = fixture('sentry-event-alert.json');
    payload.data.event.issue_id = issueId;
    payload.data.event.url = payload.data.event.url.replace('/web-shop/', `/${project}/`);
    payload.data.event.web_url = payload.data.event.web_url.replace('/4242/', `/${issueId}/`);
    if (release) payload.data.event.release = release;
    return payload;
  }

  async function assertNoSecretsIn(runId: string) {
    const events = JSON.stringify(await readRunEvents(api, runId));
    const stored = JSON.stringify([
      (await api.get('/api/alerts?limit=500')).body,
      (await api.get('/api/alerts/deliveries?limit=500')).body,
    ]);
    for (const secret of ALL_SECRETS) {
      assert.ok(!events.includes(secret), `a secret reached the run's events (the sandbox printed its environment): ${secret}`);
      assert.ok(!stored.includes(secret), `a secret is in the alerts API: ${secret}`);
      assert.ok(!server.output().includes(secret), `a secret is in the server's log: ${secret}`);
    }
    assert.match(events, /PATH=/, "the sandbox's environment was printed, so the check above saw it");
  }

  it('fixesASentryAlertOnTheReleaseCommitAndOpensADraftPullRequest', async () => {
    const shop = repos['shop-gh'];
    const r = await sendSentry('event_alert', shopEventAlert('4242', 'web-shop', `shop@${shop.release}`));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const alert = await waitForAlert(r.body.alert_ids[0]);
    assert.equal(alert.status, 'proposed', JSON.stringify(alert));
    assert.equal(alert.base_commit, shop.release, 'the fix starts from the release the error came from');

    // The run is a normal error run, made from the server's own clone.
    const run = (await api.get(`/api/runs/${alert.run_id}`)).body;
    assert.equal(run.status, 'succeeded');
    assert.equal(run.task.kind, 'error');
    assert.match(run.task.prompt, /at cartTotal \(\/srv\/shop\/src\/cart\.js:2:21\)/);
    // It says where it came from, and every VS Code window lists it with its own folder's runs.
    assert.deepEqual(
      { kind: run.source.kind, issue_id: run.source.issue_id, alert_id: run.source.alert_id },
      { kind: 'sentry', issue_id: '4242', alert_id: alert.id },
    );
    assert.equal(run.source.title, alert.title);
    const listed = (await api.get(`/api/runs?workspace=${encodeURIComponent('file:///home/dev/some-folder')}`)).body.runs;
    assert.ok(
      listed.some((r: any) => r.id === run.id),
      "an alert's run is in every folder's list",
    );
    const prompt = await buildTaskPrompt(run.task, {
      files: () => Object.keys(SHOP_FILES),
      read: async (p) => SHOP_FILES[p],
    });
    assert.match(prompt, /### src\/cart\.js:2:21/, 'the prompt shows the source around the frame');
    assert.match(prompt, />\s+2 \|\s+return cart\.items\.reduce/);

    // The branch, as git sees it on the server the fix was pushed to.
    const branch = `astraforge/4242-${alert.run_id}`;
    assert.equal(alert.pull_request.branch, branch);
    assert.match(git(shop.bare, 'show', `${branch}:src/cart.js`), /\(cart\.items \?\? \[\]\)\.reduce/);
    assert.equal(git(shop.bare, 'rev-parse', `${branch}^`), shop.release);
    assert.equal(git(shop.bare, 'log', '-1', '--format=%an <%ae>', branch), 'AstraForge Bot <bot@shop.example>');
    assert.deepEqual(git(shop.bare, 'diff', '--name-only', `${branch}^`, branch).split('\n'), ['src/cart.js']);

    // The draft pull request, as GitHub's API was asked for it.
    const create = apis.calls.find((c) => c.method === 'POST' && c.path === '/github/repos/acme/shop/pulls');
    assert.ok(create, JSON.stringify(apis.calls.map((c) => `${c.method} ${c.path}`)));
    assert.equal(create.body.draft, true);
    assert.equal(create.body.head, branch);
    assert.equal(create.body.base, 'main');
    assert.match(create.body.title, /TypeError/);
    assert.match(create.body.body, /\[4242\]\(https:\/\/sentry\.example\/organizations\/acme\/issues\/4242\/\)/);
    assert.match(create.body.body, /node test\/cart\.test\.js && env` → exit 0/);
    assert.match(create.body.body, new RegExp(`https://astraforge\\.example/api/runs/${alert.run_id}`));
    assert.equal(alert.pull_request.url, 'https://github.example/acme/shop/pull/17');
    // And the link back on the Sentry issue.
    const comment = apis.calls.find((c) => c.method === 'POST' && c.path === '/sentry/api/0/issues/4242/comments/');
    assert.ok(comment);
    assert.match(comment.body.text, /https:\/\/github\.example\/acme\/shop\/pull\/17/);
    assert.deepEqual(apis.violations, []);
    // The git server does check: without the server's credentials it refuses.
    const refusedBefore = gitServer.refused;
    // Asynchronously: the git server answers from this very process.
    await assert.rejects(
      promisify(execFile)('git', ['ls-remote', `${gitServer.url}/shop-gh.git`], { env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } }),
    );
    assert.ok(gitServer.refused > refusedBefore);
    await assertNoSecretsIn(alert.run_id);
  });

  it('updatesTheSamePullRequestOnARepeatAlert', async () => {
    const r = await sendSentry('event_alert', shopEventAlert('4242', 'web-shop'));
    assert.equal(r.body.outcome, 'repeat');
    const until = Date.now() + 20_000;
    let patch;
    while (!(patch = apis.calls.find((c) => c.method === 'PATCH' && c.path === '/github/repos/acme/shop/pulls/17')) && Date.now() < until)
      await new Promise((res) => setTimeout(res, 100));
    assert.ok(patch, 'the pull request was updated');
    assert.match(patch.body.body, /Seen 2 time\(s\)/);
    assert.equal(
      apis.calls.filter((c) => c.method === 'POST' && c.path === '/github/repos/acme/shop/pulls').length,
      1,
      'no second pull request',
    );
    assert.deepEqual(apis.violations, []);
  });

  it('fetchesTheStackForAGlitchtipAlertAndOpensADraftMergeRequest', async () => {
    const shop = repos['shop-gl'];
    const payload = fixture('glitchtip-webhook.json');
    payload.attachments[0].fields[0].value = 'Web Shop EU';
    const res = await request(`${server.url}/api/hooks/glitchtip/${GLITCHTIP_HOOK_TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    const answer = (await res.body.json()) as any;
    assert.equal(res.statusCode, 202, JSON.stringify(answer));
    const alert = await waitForAlert(answer.alert_ids[0]);
    assert.equal(alert.status, 'proposed', JSON.stringify(alert));
    const fetched = apis.calls.find((c) => c.method === 'GET' && c.path === '/glitchtip/api/0/issues/7171/events/latest/');
    assert.ok(fetched, 'the latest event was fetched');
    assert.equal(alert.error.frames[0].function, 'cartTotal');
    assert.equal(alert.error.environment, 'staging');
    assert.ok(!JSON.stringify(alert.error.request).includes('abc'), 'no cookie');
    assert.equal(alert.base_commit, shop.release, "the fetched event's release maps to its commit");
    const branch = alert.pull_request.branch;
    assert.match(git(shop.bare, 'show', `${branch}:src/cart.js`), /\(cart\.items \?\? \[\]\)/);
    const create = apis.calls.find((c) => c.method === 'POST' && c.path === '/gitlab/api/v4/projects/acme%2Fshop-eu/merge_requests');
    assert.ok(create);
    assert.match(create.body.title, /^Draft: /);
    assert.equal(create.body.source_branch, branch);
    assert.equal(create.body.target_branch, 'main');
    assert.equal(alert.pull_request.provider, 'gitlab');
    assert.deepEqual(apis.violations, []);
    await assertNoSecretsIn(alert.run_id);
  });

  it('blocksAFixThatTouchesProtectedPathsAndPushesNothing', async () => {
    const r = await sendSentry('event_alert', shopEventAlert('9999', 'locked'));
    const alert = await waitForAlert(r.body.alert_ids[0]);
    assert.equal(alert.status, 'blocked', JSON.stringify(alert));
    assert.match(alert.reason, /config\/production\.json/);
    assert.equal(git(repos['shop-locked'].bare, 'branch', '--list', 'astraforge/*'), '');
    assert.ok(!apis.calls.some((c) => c.path.startsWith('/github/repos/acme/locked')));
    // The run itself stays reviewable: the change is in its diff, not dropped.
    const diff = (await api.get(`/api/runs/${alert.run_id}/diff`)).body;
    assert.deepEqual(
      diff.files.map((f: any) => f.path),
      ['config/production.json'],
    );
  });

  it('capsRunsPerHourAndKeepsTheWaitingAlertAcrossARestart', async () => {
    const first = await sendSentry('event_alert', shopEventAlert('301', 'capped'));
    const second = await sendSentry('event_alert', shopEventAlert('302', 'capped'));
    assert.equal(second.body.outcome, 'queued');
    const done = await waitForAlert(first.body.alert_ids[0]);
    assert.equal(done.status, 'no_changes', JSON.stringify(done));
    await new Promise((r) => setTimeout(r, 1500));
    let waiting = (await api.get(`/api/alerts/${second.body.alert_ids[0]}`)).body;
    assert.equal(waiting.status, 'queued', 'the hourly cap of 1 holds the second alert');
    assert.equal(waiting.started_at, undefined);

    await server.stop();
    server = await startServer({ dataDir: server.dataDir, config: config(2), env });
    api = new ApiClient(server.url, server.apiKey);
    waiting = await waitForAlert(second.body.alert_ids[0]);
    assert.equal(waiting.status, 'no_changes', JSON.stringify(waiting));
    assert.ok(readFileSync(join(server.dataDir, 'alerts', 'deliveries.jsonl'), 'utf8').includes(second.body.deliveries[0]));
  });
});
