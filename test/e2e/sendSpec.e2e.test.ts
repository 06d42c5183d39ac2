// End to end, as a user does it: a real VS Code (code-server) in headless
// Chromium, the command palette's "AstraForge: Send Spec" with the command
// agent, the output streaming into the sidebar, the run succeeding.
// Then the review from the sidebar: the diff, Accept All, the file on disk;
// and a binary file accepted over the user's, taken back with Ctrl+Z in the
// Review view. Screenshots go to test-results/e2e/.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FrameLocator } from 'playwright-core';
import { runFromPalette, sidebarOf, answerQuickInput } from '../helpers/codeServer';
import { until } from '../helpers/until';
import { workbenchSuite } from '../helpers/workbenchSuite';

describe('end to end: Send Spec from the command palette', function () {
  this.timeout(240_000);
  const wb = workbenchSuite({ shotPrefix: 'send' });

  const answer = (text: string): Promise<void> => answerQuickInput(wb.page, text);

  const sidebar = (): FrameLocator => sidebarOf(wb.page);

  it('runsACommandAndStreamsItsOutputIntoTheSidebar', async () => {
    // The extension is up when its status bar item says it is connected.
    await wb.page.locator('.statusbar-item', { hasText: 'AstraForge' }).first().waitFor({ timeout: 60_000 });
    await wb.page.waitForFunction(
      () => Array.from(document.querySelectorAll('.statusbar-item')).some((e) => e.getAttribute('aria-label')?.includes('connected to')),
      undefined,
      { timeout: 60_000 },
    );
    await wb.shot('1-workbench');

    // The user is typing in a file when they send the task.
    await wb.page.keyboard.press('F1');
    const quickOpen = wb.page.locator('.quick-input-widget input');
    await quickOpen.fill('total.js'); // without '>' the palette opens files
    await wb.page.locator('.quick-input-list .monaco-list-row', { hasText: 'total.js' }).first().waitFor();
    await wb.page.keyboard.press('Enter');
    await wb.page.locator('.editor-instance .monaco-editor .view-lines').first().click();
    const editorHasFocus = () => wb.page.evaluate(() => !!document.activeElement?.closest('.monaco-editor'));
    assert.ok(await editorHasFocus(), 'the editor has the keyboard before the run');

    await runFromPalette(wb.page, 'AstraForge: Send Spec');
    await answer('Number the lines and note it in the README');
    await answer('Command');
    await answer('for i in $(seq 1 40); do echo "line-$i"; sleep 0.02; done; echo "numbered" >> README.md');

    const view = sidebar();
    await view.getByText('line-40').first().waitFor({ timeout: 60_000 });
    await view
      .getByText(/succeeded/i)
      .first()
      .waitFor({ timeout: 60_000 });
    await wb.shot('2-run-succeeded');
    // Opening the sidebar and streaming into it left the keyboard where it was.
    assert.ok(await editorHasFocus(), 'the editor still has the keyboard after the run');

    // The run's end as the sidebar shows it; then, scrolled to the top, the command's block.
    assert.match(await view.locator('body').innerText(), /line-39\s+line-40[\s\S]*Run succeeded/);
    await view.locator('.transcript-scroller').evaluate((el) => (el.scrollTop = 0));
    await view.getByText('$ for i in $(seq 1 40)', { exact: false }).first().waitFor();
    // Review from the sidebar: the changed file in the Review list and its diff, then accept it all.
    await view.locator('.run-header [data-action=review]').click();
    await wb.page.locator('.monaco-diff-editor').first().waitFor({ timeout: 30_000 });
    await wb.page.locator('.pane-header', { hasText: 'Review' }).first().waitFor();
    await wb.page.locator('.monaco-list-row', { hasText: 'README.md' }).first().waitFor();
    await wb.page.locator('.monaco-diff-editor .line-insert').first().waitFor(); // the diff is drawn
    await wb.shot('3-review-diff');
    // In the file itself, each change has its own Accept and Reject.
    await wb.page.keyboard.press('F1');
    await wb.page.locator('.quick-input-widget input').fill('README.md');
    await wb.page.locator('.quick-input-list .monaco-list-row', { hasText: 'README.md' }).first().waitFor();
    await wb.page.keyboard.press('Enter');
    await wb.page.locator('.codelens-decoration', { hasText: 'Accept change (AstraForge)' }).first().waitFor({ timeout: 30_000 });
    await wb.shot('3b-review-codelens');
    await runFromPalette(wb.page, 'AstraForge: Review: Accept All');
    const readme = join(wb.cs.workspace, 'README.md');
    await until('the accepted change on disk', () => readFileSync(readme, 'utf8').includes('numbered'), { timeoutMs: 10_000 });
    assert.match(readFileSync(readme, 'utf8'), /\nnumbered\n$/, 'the accepted change is on disk');
    await wb.shot('4-review-accepted');
  });

  it('undoesAnApplyThatWentToDiskWithCtrlZInTheReviewView', async () => {
    const logo = join(wb.cs.workspace, 'logo.bin');
    writeFileSync(logo, Buffer.from([0, 1, 2, 3]));
    await runFromPalette(wb.page, 'AstraForge: Send Spec');
    await answer('Redraw the logo');
    await answer('Command');
    await answer("printf 'new\\000logo' > logo.bin");
    const view = sidebar();
    await view.getByText('Redraw the logo').first().waitFor({ timeout: 60_000 });
    await view.locator('.run-header [data-action=review]').click();
    await wb.page.locator('.monaco-list-row', { hasText: 'logo.bin' }).first().waitFor({ timeout: 30_000 });
    await wb.page.waitForFunction(
      () => Array.from(document.querySelectorAll('.monaco-list-row')).every((e) => !e.textContent?.includes('README.md')),
      undefined,
      { timeout: 30_000 },
    );
    // A binary file over an existing one is written straight to disk; the message offers the way back.
    await runFromPalette(wb.page, 'AstraForge: Review: Accept All');
    await wb.page.locator('.notifications-toasts', { hasText: 'AstraForge: applied 1 file.' }).waitFor({ timeout: 30_000 });
    assert.equal(readFileSync(logo).toString('latin1'), 'new\0logo');
    await wb.shot('5-applied-to-disk');
    // Ctrl+Z in the Review view takes it back.
    await runFromPalette(wb.page, 'AstraForge: Focus on Review View');
    await wb.page.keyboard.press('Control+z');
    await until("the user's bytes back on disk", () => readFileSync(logo).length === 4, { timeoutMs: 10_000 });
    assert.deepEqual([...readFileSync(logo)], [0, 1, 2, 3], "the user's bytes are back");
    await wb.page.locator('.notifications-toasts', { hasText: 'undid "accept logo.bin" (1 file)' }).waitFor({ timeout: 30_000 });
    await wb.shot('6-apply-undone');
  });
});
