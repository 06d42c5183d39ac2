// End to end, as a user meets a blocked host: a run's curl is refused by the
// egress proxy, the sidebar names the host above the composer with Allow
// for this workspace and Allow once, and a click on Allow once lets the run
// go on and reach it. A real VS Code (code-server) in headless Chromium and
// a web server on this machine that the background server allows by name;
// screenshots go to test-results/e2e/network-*.png.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FrameLocator } from 'playwright-core';
import { runFromPalette, sidebarOf } from '../helpers/codeServer';
import { workbenchSuite } from '../helpers/workbenchSuite';

describe('end to end: a blocked host', function () {
  this.timeout(300_000);
  let web: Server;
  let port: number;

  before(async () => {
    web = createServer((_req, res) => res.end('hello from the mirror\n'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    port = (web.address() as AddressInfo).port;
  });
  const wb = workbenchSuite({
    shotPrefix: 'network',
    // Before the window opens: the background server it starts reads this, and the folder asks for another host.
    prepare: (cs) => {
      mkdirSync(cs.serverDataDir, { recursive: true });
      writeFileSync(
        join(cs.serverDataDir, 'config.json'),
        JSON.stringify({
          network: {
            allow: [`mirror.test:${port}`, 'other.test'],
            resolve: { 'mirror.test': '127.0.0.1' },
            allowPrivate: [`127.0.0.1:${port}`],
          },
        }),
      );
      mkdirSync(join(cs.workspace, '.vscode'), { recursive: true });
      writeFileSync(join(cs.workspace, '.vscode', 'settings.json'), JSON.stringify({ 'astraforge.network.allow': ['other.test'] }));
    },
  });
  after(() => new Promise<void>((r) => (web ? web.close(() => r()) : r())));

  const sidebar = (): FrameLocator => sidebarOf(wb.page);

  it('namesTheBlockedHostAndAllowOnceLetsTheRunReachIt', async () => {
    await wb.page.locator('.statusbar-item[aria-label*="connected to"]').first().waitFor({ timeout: 60_000 });
    await runFromPalette(wb.page, 'AstraForge: Show Sidebar');
    const view = sidebar();
    await view.locator('.composer').waitFor({ timeout: 30_000 });
    await view.locator('#composer-agent').selectOption('command');
    await view.locator('#composer-input').fill('Fetch from the mirror');
    await view.locator('#composer-command').fill(`curl -sS --max-time 10 http://mirror.test:${port}/; true`);
    await view.locator('.composer button[type=submit]').click();

    const prompt = view.locator('.network-prompt');
    await prompt.getByText(`Blocked: mirror.test:${port}`).waitFor({ timeout: 60_000 });
    await view.getByText('Run succeeded').first().waitFor({ timeout: 60_000 });
    await wb.shot('network-1-blocked');
    assert.equal(await prompt.getByRole('button', { name: 'Allow for this workspace' }).count(), 1);

    await prompt.getByRole('button', { name: 'Allow once' }).click();
    await view.getByText('hello from the mirror').first().waitFor({ timeout: 60_000 });
    await wb.shot('network-2-allowed-once');
    assert.equal(await prompt.isVisible(), false, 'the prompt is gone once the host is allowed');
  });
});
