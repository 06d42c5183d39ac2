// End to end, as a user does it: a real VS Code (code-server) in headless
// Chromium, the command palette's "AstraForge: Send Spec" with the command
// agent, the output streaming into the sidebar, the run succeeding.
// Screenshots go to test-results/e2e/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, FrameLocator, Page } from 'playwright-core';
import { openBrowser, openWorkbench, startCodeServer, workbenchUrl, type CodeServer } from '../helpers/codeServer';
import { REPO_ROOT } from '../helpers/serverProcess';

const SHOTS = join(REPO_ROOT, 'test-results', 'e2e');

describe('end to end: Send Spec from the command palette', function () {
  this.timeout(240_000);
  let cs: CodeServer;
  let browser: Browser;
  let page: Page;

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    cs = await startCodeServer();
    browser = await openBrowser();
    page = await openWorkbench(browser, workbenchUrl(cs));
  });

  after(async () => {
    await browser?.close();
    await cs?.stop();
  });

  async function palette(command: string): Promise<void> {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${command}`);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: command }).first().waitFor();
    await page.keyboard.press('Enter');
  }

  async function answer(text: string): Promise<void> {
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill(text);
    await page.keyboard.press('Enter');
  }

  function sidebar(): FrameLocator {
    // A webview is an iframe holding the app's own iframe.
    return page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
  }

  it('runsACommandAndStreamsItsOutputIntoTheSidebar', async () => {
    // The extension is up when its status bar item says it is connected.
    await page.locator('.statusbar-item', { hasText: 'AstraForge' }).first().waitFor({ timeout: 60_000 });
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll('.statusbar-item')).some((e) => e.getAttribute('aria-label')?.includes('connected to')),
      undefined,
      { timeout: 60_000 },
    );
    await page.screenshot({ path: join(SHOTS, '1-workbench.png') });

    // The user is typing in a file when they send the task.
    await page.keyboard.press('F1');
    const quickOpen = page.locator('.quick-input-widget input');
    await quickOpen.fill('total.js'); // without '>' the palette opens files
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'total.js' }).first().waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.editor-instance .monaco-editor .view-lines').first().click();
    const editorHasFocus = () => page.evaluate(() => !!document.activeElement?.closest('.monaco-editor'));
    assert.ok(await editorHasFocus(), 'the editor has the keyboard before the run');

    await palette('AstraForge: Send Spec');
    await answer('Number the lines and note it in the README');
    await answer('Command');
    await answer('for i in $(seq 1 40); do echo "line-$i"; sleep 0.02; done; echo "numbered" >> README.md');

    const view = sidebar();
    await view.getByText('line-40').first().waitFor({ timeout: 60_000 });
    await view
      .getByText(/succeeded/i)
      .first()
      .waitFor({ timeout: 60_000 });
    await page.screenshot({ path: join(SHOTS, '2-run-succeeded.png') });
    // Opening the sidebar and streaming into it left the keyboard where it was.
    assert.ok(await editorHasFocus(), 'the editor still has the keyboard after the run');
    const text = await view.locator('body').innerText();
    // The command's block, its output and the run's end, as the sidebar shows them.
    assert.match(text, /\$ for i in \$\(seq 1 40\)/);
    assert.match(text, /line-39\s+line-40/);
    assert.match(text, /Run succeeded/);
  });
});
