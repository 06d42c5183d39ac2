// End to end, as a user does it: a real VS Code (code-server) in headless
// Chromium, the command palette's "AstraForge: Send Spec" with the command
// agent, the output streaming into the sidebar, the run succeeding.
// Then the review from the sidebar: the diff, Accept All, the file on disk;
// and a binary file accepted over the user's, taken back with Ctrl+Z in the
// Review view. Screenshots go to test-results/e2e/.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, FrameLocator, Page } from 'playwright-core';
import {
  openBrowser,
  openWorkbench,
  startCodeServer,
  workbenchUrl,
  type CodeServer,
  runFromPalette,
  sidebarOf,
  answerQuickInput,
} from '../helpers/codeServer';
import { REPO_ROOT } from '../helpers/serverProcess';
import { until } from '../helpers/until';

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

  const answer = (text: string): Promise<void> => answerQuickInput(page, text);

  const sidebar = (): FrameLocator => sidebarOf(page);

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

    await runFromPalette(page, 'AstraForge: Send Spec');
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

    // The run's end as the sidebar shows it; then, scrolled to the top, the command's block.
    assert.match(await view.locator('body').innerText(), /line-39\s+line-40[\s\S]*Run succeeded/);
    await view.locator('.transcript-scroller').evaluate((el) => (el.scrollTop = 0));
    await view.getByText('$ for i in $(seq 1 40)', { exact: false }).first().waitFor();
    // Review from the sidebar: the changed file in the Review list and its diff, then accept it all.
    await view.locator('.run-header [data-action=review]').click();
    await page.locator('.monaco-diff-editor').first().waitFor({ timeout: 30_000 });
    await page.locator('.pane-header', { hasText: 'Review' }).first().waitFor();
    await page.locator('.monaco-list-row', { hasText: 'README.md' }).first().waitFor();
    await page.locator('.monaco-diff-editor .line-insert').first().waitFor(); // the diff is drawn
    await page.screenshot({ path: join(SHOTS, '3-review-diff.png') });
    // In the file itself, each change has its own Accept and Reject.
    await page.keyboard.press('F1');
    await page.locator('.quick-input-widget input').fill('README.md');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'README.md' }).first().waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.codelens-decoration', { hasText: 'Accept change (AstraForge)' }).first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(SHOTS, '3b-review-codelens.png') });
    await runFromPalette(page, 'AstraForge: Review: Accept All');
    const readme = join(cs.workspace, 'README.md');
    await until('the accepted change on disk', () => readFileSync(readme, 'utf8').includes('numbered'), { timeoutMs: 10_000 });
    assert.match(readFileSync(readme, 'utf8'), /\nnumbered\n$/, 'the accepted change is on disk');
    await page.screenshot({ path: join(SHOTS, '4-review-accepted.png') });
  });

  it('undoesAnApplyThatWentToDiskWithCtrlZInTheReviewView', async () => {
    const logo = join(cs.workspace, 'logo.bin');
    writeFileSync(logo, Buffer.from([0, 1, 2, 3]));
    await runFromPalette(page, 'AstraForge: Send Spec');
    await answer('Redraw the logo');
    await answer('Command');
    await answer("printf 'new\\000logo' > logo.bin");
    const view = sidebar();
    await view.getByText('Redraw the logo').first().waitFor({ timeout: 60_000 });
    await view.locator('.run-header [data-action=review]').click();
    await page.locator('.monaco-list-row', { hasText: 'logo.bin' }).first().waitFor({ timeout: 30_000 });
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll('.monaco-list-row')).every((e) => !e.textContent?.includes('README.md')),
      undefined,
      { timeout: 30_000 },
    );
    // A binary file over an existing one is written straight to disk; the message offers the way back.
    await runFromPalette(page, 'AstraForge: Review: Accept All');
    await page.locator('.notifications-toasts', { hasText: 'AstraForge: applied 1 file.' }).waitFor({ timeout: 30_000 });
    assert.equal(readFileSync(logo).toString('latin1'), 'new\0logo');
    await page.screenshot({ path: join(SHOTS, '5-applied-to-disk.png') });
    // Ctrl+Z in the Review view takes it back.
    await runFromPalette(page, 'AstraForge: Focus on Review View');
    await page.keyboard.press('Control+z');
    await until("the user's bytes back on disk", () => readFileSync(logo).length === 4, { timeoutMs: 10_000 });
    assert.deepEqual([...readFileSync(logo)], [0, 1, 2, 3], "the user's bytes are back");
    await page.locator('.notifications-toasts', { hasText: 'undid "accept logo.bin" (1 file)' }).waitFor({ timeout: 30_000 });
    await page.screenshot({ path: join(SHOTS, '6-apply-undone.png') });
  });
});
