// The same alert with the real Codex CLI doing the fix, driven by the
// scripted model: the prompt it gets carries the frames and the source
// around them, and the draft pull request says what it did and ran.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { ApiClient } from '../helpers/apiClient';
import { readRunEvents } from '../helpers/runHelpers';
import { startScriptedModel, type ScriptedModel } from '../helpers/scriptedModel';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import {
  fixture,
  git,
  makeShopRepo,
  sentryHeaders,
  startApiStandIn,
  startGitServer,
  type ApiStandIn,
  type GitServer,
  type ShopRepo,
} from './alertsStandIns';

const CLIENT_SECRET = 'sentry-client-secret-codex';
const TOKENS = { sentry: 'sentry-token-codex-1', glitchtip: 'unused-codex-2', github: 'github-token-codex-3', gitlab: 'unused-codex-4' };
const GIT_TOKEN = 'git-token-codex-5';
const MODEL_KEY = 'sk-provider-codex-6';

describe('alerts to fixes with codex', function () {
  this.timeout(180_000);
  let gitRoot: string;
  let shop: ShopRepo;
  let gitServer: GitServer;
  let apis: ApiStandIn;
  let model: ScriptedModel;
  let server: ServerProcess;
  let api: ApiClient;

  before(async () => {
    gitRoot = mkdtempSync(join(tmpdir(), 'af-git-'));
    shop = makeShopRepo(gitRoot, 'shop');
    gitServer = await startGitServer(gitRoot, GIT_TOKEN);
    apis = await startApiStandIn(TOKENS, () => undefined);
    model = await startScriptedModel([]);
    server = await startServer({
      env: { ASTRAFORGE_MODEL_BASE_URL: model.baseUrl, ASTRAFORGE_MODEL_API_KEY: MODEL_KEY, ASTRAFORGE_MODEL: 'scripted-model' },
      config: {
        agents: { codexStreamRetries: 0 },
        network: { allow: ['npm'] },
        alerts: {
          sentry: { clientSecret: CLIENT_SECRET, apiUrl: `${apis.url}/sentry`, apiToken: TOKENS.sentry },
          projects: {
            'web-shop': {
              repository: `${gitServer.url}/shop.git`,
              agent: 'codex',
              // The project's own model, not the server's default (scripted-model).
              model: 'shop-fixer-7b',
              // And its egress: the npm registry, within what the server allows.
              network: ['npm'],
              gitCredentials: { token: GIT_TOKEN },
              pullRequest: { provider: 'github', apiUrl: `${apis.url}/github`, repo: 'acme/shop', token: TOKENS.github },
            },
          },
        },
      },
    });
    api = new ApiClient(server.url, server.apiKey);
  });
  after(async () => {
    await server?.dispose();
    await model?.close();
    await gitServer?.close();
    await apis?.close();
    if (gitRoot) rmSync(gitRoot, { recursive: true, force: true });
  });

  it('givesCodexTheFramesWithTheirSourceAndProposesWhatItDid', async () => {
    model.script.push(
      {
        call: 'exec_command',
        args: { cmd: "sed -i 's/cart.items.reduce/(cart.items ?? []).reduce/' src/cart.js && node test/cart.test.js" },
      },
      { say: 'cartTotal now treats a cart without items as empty; test/cart.test.js passes.' },
    );
    const payload = fixture('sentry-event-alert.json');
    const body = JSON.stringify(payload);
    const res = await request(`${server.url}/api/hooks/sentry`, {
      method: 'POST',
      headers: sentryHeaders(CLIENT_SECRET, body, 'event_alert'),
      body,
    });
    const answer = (await res.body.json()) as any;
    assert.equal(res.statusCode, 202, JSON.stringify(answer));
    let alert: any;
    const until = Date.now() + 120_000;
    do {
      await new Promise((r) => setTimeout(r, 300));
      alert = (await api.get(`/api/alerts/${answer.alert_ids[0]}`)).body;
    } while (!['proposed', 'failed', 'blocked', 'no_changes', 'fixed'].includes(alert.status) && Date.now() < until);
    assert.equal(alert.status, 'proposed', `${JSON.stringify(alert)}\n${server.output().slice(-2000)}`);

    const events = await readRunEvents(api, alert.run_id);
    const prompt = events.find((e) => e.data.type === 'agent.prompt')?.data.text as string;
    assert.ok(prompt, 'codex was given a prompt');
    assert.match(prompt, /at cartTotal \(\/srv\/shop\/src\/cart\.js:2:21\)/);
    assert.match(prompt, /### src\/cart\.js:2:21/, 'with the source around the frame, from the clone');
    assert.match(prompt, /### src\/checkout\.js:3:18/);
    assert.match(prompt, /reproduce/i);

    assert.match(git(shop.bare, 'show', `${alert.pull_request.branch}:src/cart.js`), /\(cart\.items \?\? \[\]\)/);
    const create = apis.calls.find((c) => c.method === 'POST' && c.path === '/github/repos/acme/shop/pulls');
    assert.ok(create);
    assert.match(create.body.body, /> cartTotal now treats a cart without items as empty/);
    assert.match(create.body.body, /node test\/cart\.test\.js"?` → exit 0/);
    assert.deepEqual(apis.violations, []);
    // Codex asked for the project's model, through the server's gateway and key.
    assert.ok(model.requests.length > 0);
    for (const r of model.requests) assert.equal(r.body.model, 'shop-fixer-7b', r.path);
    const run = (await api.get(`/api/runs/${alert.run_id}`)).body;
    assert.equal(run.model, 'shop-fixer-7b');
    assert.equal(run.network?.mode, 'allowlist', JSON.stringify(run.network));
    assert.ok(
      run.network.allow.some((e: string) => /npm/.test(e)),
      JSON.stringify(run.network),
    );
    // The model provider saw its own key and none of the server's other credentials.
    const sent = model.requests.map((r) => r.raw + JSON.stringify(r.headers)).join('\n');
    for (const secret of [GIT_TOKEN, TOKENS.github, TOKENS.sentry, CLIENT_SECRET]) assert.ok(!sent.includes(secret), secret);
    const all = JSON.stringify(events);
    for (const secret of [GIT_TOKEN, TOKENS.github, TOKENS.sentry, CLIENT_SECRET, MODEL_KEY]) assert.ok(!all.includes(secret), secret);
  });
});
