// Webhook intake on the real server: Sentry's integration-platform webhooks
// and service hooks, GlitchTip's webhook, each authenticated as its tracker
// signs it (and refused otherwise, with nothing stored), normalized into an
// error report, deduplicated per issue, recorded, and kept across a restart.
// The mapped project's hourly cap is 0 here, so alerts queue and no run starts.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { request } from 'undici';
import { ApiClient } from '../helpers/apiClient';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { fixture, sentryHeaders, sentrySignature } from './alertsStandIns';

const CLIENT_SECRET = 'sentry-client-secret-for-tests';
const HOOK_SECRET = 'service-hook-secret-web-shop';
const OTHER_HOOK_SECRET = 'service-hook-secret-billing';
const GLITCHTIP_TOKEN = 'glitchtip-url-token-0123456789';

const CONFIG = {
  alerts: {
    sentry: { clientSecret: { env: 'TEST_SENTRY_SECRET' } },
    glitchtip: { token: GLITCHTIP_TOKEN },
    maxQueuedPerProject: 7,
    breadcrumbs: 2,
    projects: {
      'web-shop': {
        repository: 'file:///nonexistent/shop.git',
        agent: 'command',
        command: 'true',
        maxRunsPerHour: 0,
        serviceHookSecret: HOOK_SECRET,
      },
      billing: {
        repository: 'file:///nonexistent/billing.git',
        agent: 'command',
        command: 'true',
        maxRunsPerHour: 0,
        serviceHookSecret: OTHER_HOOK_SECRET,
      },
    },
  },
};

async function postRaw(server: ServerProcess, path: string, body: string, headers: Record<string, string>) {
  const res = await request(`${server.url}${path}`, { method: 'POST', headers, body });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
}

function eventAlert(issueId: string, project = 'web-shop'): string {
  const payload = fixture('sentry-event-alert.json');
  payload.data.event.issue_id = issueId;
  payload.data.event.url = payload.data.event.url.replace('/web-shop/', `/${project}/`);
  return JSON.stringify(payload);
}

describe('alerts intake', function () {
  this.timeout(60_000);
  let server: ServerProcess;
  let api: ApiClient;

  before(async () => {
    server = await startServer({ config: CONFIG, env: { TEST_SENTRY_SECRET: CLIENT_SECRET } });
    api = new ApiClient(server.url, server.apiKey);
  });
  after(async () => server?.dispose());

  const deliveries = async () => (await api.get('/api/alerts/deliveries?limit=500')).body.deliveries as any[];
  const alerts = async () => (await api.get('/api/alerts?limit=500')).body.alerts as any[];

  it('queuesASignedIssueAlertAsANormalizedErrorTask', async () => {
    const body = eventAlert('4242');
    const r = await postRaw(server, '/api/hooks/sentry', body, sentryHeaders(CLIENT_SECRET, body, 'event_alert'));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.outcome, 'queued');
    const alert = (await api.get(`/api/alerts/${r.body.alert_ids[0]}`)).body;
    assert.equal(alert.status, 'queued');
    assert.equal(alert.project, 'web-shop');
    assert.equal(alert.issue_id, '4242');
    assert.equal(alert.link, 'https://sentry.example/organizations/acme/issues/4242/');
    const error = alert.error;
    assert.deepEqual(error.exceptions, [{ type: 'TypeError', value: "Cannot read properties of undefined (reading 'reduce')" }]);
    // Innermost first, the application's frames before the library's.
    assert.deepEqual(
      error.frames.map((f: any) => [f.function, f.in_app]),
      [
        ['cartTotal', true],
        ['checkout', true],
        ['Layer.handle [as handle_request]', false],
        ['process.processTicksAndRejections', false],
      ],
    );
    assert.equal(error.frames[0].file, '/srv/shop/src/cart.js');
    assert.equal(error.frames[0].line, 2);
    assert.equal(error.frames[0].column, 21);
    // The request without cookies, credentials or session state.
    assert.deepEqual(error.request.headers, { Accept: 'application/json', 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64)' });
    assert.equal(error.request.method, 'POST');
    assert.equal(error.request.query, 'coupon=WINTER&access_token=[removed]');
    const text = JSON.stringify(alert);
    for (const secret of ['s3cr3t-session', 'user-token-xyz', 'k-123', 'tok-456', 'hunter2'])
      assert.ok(!text.includes(secret), `${secret} kept`);
    // The last N breadcrumbs (N = 2 in this config), tags, environment.
    assert.deepEqual(
      error.breadcrumbs.map((b: any) => b.category),
      ['http', 'cart'],
    );
    assert.equal(error.tags.server_name, 'shop-web-1');
    assert.equal(error.environment, 'production');
    const record = (await deliveries()).find((d) => d.id === r.body.deliveries[0]);
    assert.equal(record.outcome, 'queued');
    assert.equal(record.resource, 'event_alert');
    assert.equal(record.source, 'sentry');
  });

  it('refusesWrongMissingAndStaleSignaturesAndStoresNothing', async () => {
    const before = (await deliveries()).length;
    const alertsBefore = (await alerts()).length;
    const body = eventAlert('9001');
    const good = sentryHeaders(CLIENT_SECRET, body, 'event_alert');
    const cases: Record<string, Record<string, string>> = {
      wrong: { ...good, 'sentry-hook-signature': sentrySignature('not-the-secret', body) },
      missing: Object.fromEntries(Object.entries(good).filter(([k]) => k !== 'sentry-hook-signature')),
      truncated: { ...good, 'sentry-hook-signature': good['sentry-hook-signature'].slice(0, 63) },
      stale: { ...good, 'sentry-hook-timestamp': String(Math.floor(Date.now() / 1000) - 3600) },
      future: { ...good, 'sentry-hook-timestamp': String(Math.floor(Date.now() / 1000) + 3600) },
      noTimestamp: Object.fromEntries(Object.entries(good).filter(([k]) => k !== 'sentry-hook-timestamp')),
    };
    for (const [name, headers] of Object.entries(cases)) {
      const r = await postRaw(server, '/api/hooks/sentry', body, headers);
      assert.equal(r.status, 401, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error_code, 'UNAUTHORIZED');
    }
    // The body the signature covers, byte for byte: the same JSON re-serialized is not it.
    const pretty = JSON.stringify(JSON.parse(body), null, 2);
    const r = await postRaw(server, '/api/hooks/sentry', pretty, { ...good });
    assert.equal(r.status, 401);
    assert.equal((await deliveries()).length, before);
    assert.equal((await alerts()).length, alertsBefore);
  });

  it('answersMalformedPayloadsWith400SayingWhatIsWrong', async () => {
    const notJson = '{"action": "triggered", ';
    let r = await postRaw(server, '/api/hooks/sentry', notJson, sentryHeaders(CLIENT_SECRET, notJson, 'event_alert'));
    assert.equal(r.status, 400);
    assert.match(r.body.message, /not JSON/);
    const noIssue = JSON.stringify({ action: 'triggered', data: { event: { title: 'x' } } });
    r = await postRaw(server, '/api/hooks/sentry', noIssue, sentryHeaders(CLIENT_SECRET, noIssue, 'event_alert'));
    assert.equal(r.status, 400);
    assert.match(r.body.message, /data\.event\.issue_id/);
    const ok = eventAlert('1');
    const h = sentryHeaders(CLIENT_SECRET, ok, 'event_alert');
    delete h['sentry-hook-resource'];
    r = await postRaw(server, '/api/hooks/sentry', ok, h);
    assert.equal(r.status, 400);
    assert.match(r.body.message, /Sentry-Hook-Resource/);
  });

  it('queuesAnErrorWebhookWithItsEvent', async () => {
    const event = fixture('sentry-event-alert.json').data.event;
    event.issue_id = '6262';
    const body = JSON.stringify({
      action: 'created',
      actor: { id: 'sentry', name: 'Sentry', type: 'application' },
      data: { error: event },
      installation: { uuid: 'x' },
    });
    const r = await postRaw(server, '/api/hooks/sentry', body, sentryHeaders(CLIENT_SECRET, body, 'error'));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const alert = (await api.get(`/api/alerts/${r.body.alert_ids[0]}`)).body;
    assert.equal(alert.issue_id, '6262');
    assert.equal(alert.error.frames[0].function, 'cartTotal');
    assert.equal(alert.error.event_id, '3f1c2a9d8b7e4c6fa1d2e3f4a5b6c7d8');
  });

  it('acknowledgesInstallationsAndIgnoresWhatItDoesNotActOn', async () => {
    const install = JSON.stringify(fixture('sentry-installation.json'));
    let r = await postRaw(server, '/api/hooks/sentry', install, sentryHeaders(CLIENT_SECRET, install, 'installation'));
    assert.equal(r.status, 200);
    assert.equal(r.body.outcome, 'acknowledged');
    const resolved = fixture('sentry-issue-created.json');
    resolved.action = 'resolved';
    const body = JSON.stringify(resolved);
    r = await postRaw(server, '/api/hooks/sentry', body, sentryHeaders(CLIENT_SECRET, body, 'issue'));
    assert.equal(r.body.outcome, 'ignored');
    const metric = JSON.stringify({ action: 'critical', data: { metric_alert: {} } });
    r = await postRaw(server, '/api/hooks/sentry', metric, sentryHeaders(CLIENT_SECRET, metric, 'metric_alert'));
    assert.equal(r.body.outcome, 'ignored');
  });

  it('recordsAndIgnoresAnUnmappedProject', async () => {
    const body = eventAlert('777', 'marketing-site');
    const r = await postRaw(server, '/api/hooks/sentry', body, sentryHeaders(CLIENT_SECRET, body, 'event_alert'));
    assert.equal(r.status, 200);
    assert.equal(r.body.outcome, 'ignored');
    assert.deepEqual(r.body.alert_ids, []);
    const record = (await deliveries()).find((d) => d.id === r.body.deliveries[0]);
    assert.equal(record.project, 'marketing-site');
    assert.match(record.reason, /not mapped/);
    assert.ok(!(await alerts()).some((a) => a.issue_id === '777'));
  });

  it('countsRepeatsOnTheOpenAlertAndSkipsAReplayedRequestId', async () => {
    const body = eventAlert('5555');
    const first = await postRaw(server, '/api/hooks/sentry', body, sentryHeaders(CLIENT_SECRET, body, 'event_alert'));
    assert.equal(first.body.outcome, 'queued');
    const headers = sentryHeaders(CLIENT_SECRET, body, 'event_alert');
    const second = await postRaw(server, '/api/hooks/sentry', body, headers);
    assert.equal(second.body.outcome, 'repeat');
    assert.deepEqual(second.body.alert_ids, first.body.alert_ids);
    const replay = await postRaw(server, '/api/hooks/sentry', body, headers);
    assert.equal(replay.body.outcome, 'duplicate');
    const alert = (await api.get(`/api/alerts/${first.body.alert_ids[0]}`)).body;
    assert.equal(alert.occurrences, 2);
    assert.equal((await alerts()).filter((a) => a.issue_id === '5555').length, 1);
  });

  it('takesAnIssueWebhookWithoutStackAndAServiceHookSignedByItsProject', async () => {
    const issue = JSON.stringify(fixture('sentry-issue-created.json'));
    let r = await postRaw(server, '/api/hooks/sentry', issue, sentryHeaders(CLIENT_SECRET, issue, 'issue'));
    assert.equal(r.body.outcome, 'queued');
    let alert = (await api.get(`/api/alerts/${r.body.alert_ids[0]}`)).body;
    assert.equal(alert.issue_id, '5151');
    assert.equal(alert.error.frames.length, 0, 'the stack is fetched when the run is prepared');
    assert.equal(alert.error.culprit, 'cartTotal(src/cart)');

    const hook = JSON.stringify(fixture('sentry-service-hook.json'));
    const hookHeaders = (secret: string, timestamp = Math.floor(Date.now() / 1000)) => ({
      'content-type': 'application/json',
      'x-servicehook-timestamp': String(timestamp),
      'x-servicehook-guid': 'b1c2d3e4f5a6',
      'x-servicehook-signature': sentrySignature(secret, hook),
    });
    r = await postRaw(server, '/api/hooks/sentry', hook, hookHeaders(HOOK_SECRET));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    alert = (await api.get(`/api/alerts/${r.body.alert_ids[0]}`)).body;
    assert.equal(alert.issue_id, '6161');
    assert.equal(alert.error.frames[0].function, 'cartTotal');
    // Another project's hook secret does not speak for web-shop; an old timestamp is refused.
    assert.equal((await postRaw(server, '/api/hooks/sentry', hook, hookHeaders(OTHER_HOOK_SECRET))).status, 401);
    assert.equal(
      (await postRaw(server, '/api/hooks/sentry', hook, hookHeaders(HOOK_SECRET, Math.floor(Date.now() / 1000) - 900))).status,
      401,
    );
  });

  it('takesGlitchtipsWebhookByTheTokenInItsUrl', async () => {
    const body = JSON.stringify(fixture('glitchtip-webhook.json'));
    const headers = { 'content-type': 'application/json' };
    assert.equal((await postRaw(server, '/api/hooks/glitchtip/wrong-token', body, headers)).status, 401);
    const r = await postRaw(server, `/api/hooks/glitchtip/${GLITCHTIP_TOKEN}`, body, headers);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const alert = (await api.get(`/api/alerts/${r.body.alert_ids[0]}`)).body;
    assert.equal(alert.source, 'glitchtip');
    assert.equal(alert.project, 'web-shop', 'the project name "Web Shop" maps to the key web-shop');
    assert.equal(alert.issue_id, '7171');
    assert.equal(alert.link, 'https://glitchtip.example/acme/issues/7171');
    assert.equal(alert.error.release, 'shop@1.4.2');
    assert.equal(alert.error.environment, 'production');
    const bad = await postRaw(server, `/api/hooks/glitchtip/${GLITCHTIP_TOKEN}`, '{"text": 3}', headers);
    assert.equal(bad.status, 400);
  });

  it('dropsDeliveriesPastTheProjectsQueueLimit', async () => {
    let last: any;
    for (let i = 0; i < 4; i++) {
      const body = eventAlert(`800${i}`);
      last = await postRaw(server, '/api/hooks/sentry', body, sentryHeaders(CLIENT_SECRET, body, 'event_alert'));
    }
    assert.equal(last.body.outcome, 'dropped');
    assert.ok(!(await alerts()).some((a) => a.issue_id === '8003'));
  });

  it('needsTheApiKeyEverywhereButTheHooks', async () => {
    const anonymous = new ApiClient(server.url, 'wrong');
    assert.equal((await anonymous.get('/api/alerts')).status, 401);
    assert.equal((await anonymous.get('/api/alerts/deliveries')).status, 401);
    assert.equal((await anonymous.get('/api/runs')).status, 401);
    // A path that starts like a hook but leads elsewhere is not served without the key.
    for (const path of ['/api/hooks/../runs', '/api/hooks/%2e%2e/runs', '/api/hooks/sentry/../../runs']) {
      const status = await rawGetStatus(server.url, path);
      assert.ok(status === 401 || status === 404, `${path}: ${status}`);
    }
  });

  it('keepsQueuedAlertsAndDeliveriesAcrossARestart', async () => {
    const queuedBefore = (await alerts())
      .filter((a) => a.status === 'queued')
      .map((a) => a.id)
      .sort();
    const deliveriesBefore = (await deliveries()).length;
    await server.stop();
    server = await startServer({ dataDir: server.dataDir, config: CONFIG, env: { TEST_SENTRY_SECRET: CLIENT_SECRET } });
    api = new ApiClient(server.url, server.apiKey);
    assert.deepEqual(
      (await alerts())
        .filter((a) => a.status === 'queued')
        .map((a) => a.id)
        .sort(),
      queuedBefore,
    );
    assert.equal((await deliveries()).length, deliveriesBefore);
  });
});

/** A GET sent byte for byte (clients normalize dot segments before sending). */
function rawGetStatus(base: string, path: string): Promise<number> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`),
    );
    let data = '';
    socket.on('data', (d) => (data += d.toString()));
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(data)?.[1] ?? 0)));
    socket.on('error', reject);
  });
}
