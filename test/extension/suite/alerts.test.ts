// A production alert's run in a real VS Code: the user's background server
// is given an alerts configuration (a Sentry project mapped to a repository
// served by git on this machine), a signed Sentry webhook starts the fix,
// and the window lists that run at once, with its Sentry issue, in this
// folder's list although it came from no folder, streams it to its end and
// reviews its diff like any other run.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { AstraForgeApi } from '../../../src/extension';
import { issueLink } from '../../../src/runs/issueLink';
import { makeShopRepo, sentryHeaders, SHOP_FIX } from '../../server/alertsStandIns';
import { until } from '../../helpers/until';

const CLIENT_SECRET = 'sentry-client-secret-in-vscode';

describe('AstraForge alert runs', () => {
  let api: AstraForgeApi;
  let gitRoot: string;

  before(async () => {
    api = (await vscode.extensions.getExtension<AstraForgeApi>('astraforge.astraforge')!.activate())!;
    await api.connection.client(); // the server is up: its data folder exists
    gitRoot = mkdtempSync(join(tmpdir(), 'af-alert-git-'));
  });

  after(async () => {
    // The server goes back to no alerts for the tests after this one.
    rmSync(join(api.connection.serverDataDir, 'config.json'), { force: true });
    await api.connection.stopServer();
    await api.connection.client();
    rmSync(gitRoot, { recursive: true, force: true });
  });

  it('listsAnAlertsRunWithItsIssueAndReviewsItsFix', async () => {
    const shop = makeShopRepo(gitRoot, 'shop');
    const extensionPath = vscode.extensions.getExtension('astraforge.astraforge')!.extensionPath;
    const payload = readFileSync(join(extensionPath, 'test/fixtures/alerts/sentry-event-alert.json'), 'utf8');
    // The server reads its configuration at start: written, then the server started again with it.
    writeFileSync(
      join(api.connection.serverDataDir, 'config.json'),
      JSON.stringify({
        alerts: {
          sentry: { clientSecret: CLIENT_SECRET },
          projects: { 'web-shop': { repository: `file://${shop.bare}`, branch: 'main', agent: 'command', command: SHOP_FIX } },
        },
      }),
    );
    await api.connection.stopServer();
    const client = await api.connection.client();
    const url = api.connection.state.serverUrl!;

    const res = await fetch(`${url}/api/hooks/sentry`, {
      method: 'POST',
      headers: sentryHeaders(CLIENT_SECRET, payload, 'event_alert'),
      body: payload,
    });
    assert.equal(res.status, 202, await res.text());

    // Listed in this folder's list (it came from no folder), with its issue, while it runs.
    const listed = await until('the alert run in the list', () => api.runs.runs.find((r) => r.source?.kind === 'sentry'), {
      timeoutMs: 60_000,
    });
    assert.equal(listed.source?.issue_id, '4242');
    assert.equal(listed.task.kind, 'error');
    assert.match(issueLink(listed) ?? '', /^https?:\/\//, 'the header can open the issue');

    // Shown and streamed like any run, to its end.
    await api.runs.select(listed.id);
    await until('the run to end', () => (api.runs.selectedRun?.status === 'succeeded' ? true : undefined), { timeoutMs: 120_000 });
    const diff = await client.diff(listed.id);
    assert.deepEqual(
      diff.files.map((f) => f.path),
      ['src/cart.js'],
    );
    assert.match(diff.files[0].patch, /\(cart\.items \?\? \[\]\)\.reduce/);
  });
});
