// End to end: a workspace with `.astraforge/environment.json`. The first
// Send shows the setup running in the sidebar ("Preparing environment…",
// its output, then "Environment ready") and the run sees what setup made;
// the second Send of the same workspace reuses it and says so ("Environment
// ready (cached)"), without running setup again. A real VS Code
// (code-server) in headless Chromium; screenshots go to
// test-results/e2e/environment-*.png.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FrameLocator } from 'playwright-core';
import { runFromPalette, sidebarOf, answerQuickInput } from '../helpers/codeServer';
import { until } from '../helpers/until';
import { workbenchSuite } from '../helpers/workbenchSuite';

describe('end to end: a project environment in the sidebar', function () {
  this.timeout(240_000);
  const wb = workbenchSuite({
    shotPrefix: 'environment',
    // Setup needs no network here: it records that it ran, and makes what the agent's command reads.
    prepare: (cs) => {
      mkdirSync(join(cs.workspace, '.astraforge'), { recursive: true });
      writeFileSync(
        join(cs.workspace, '.astraforge', 'environment.json'),
        JSON.stringify({ setup: 'echo setting-up && mkdir -p .deps && echo installed-by-setup > .deps/marker' }),
      );
    },
  });

  const sidebar = (): FrameLocator => sidebarOf(wb.page);

  const answer = (text: string): Promise<void> => answerQuickInput(wb.page, text);

  async function send(prompt: string, command: string): Promise<void> {
    await runFromPalette(wb.page, 'AstraForge: Send Spec');
    await answer(prompt);
    await answer('Command');
    await answer(command);
  }

  /** The transcript's text once the run shown has ended. */
  async function finishedTranscript(): Promise<string> {
    const view = sidebar();
    await view
      .getByText(/Run (succeeded|failed)/)
      .first()
      .waitFor({ timeout: 120_000 });
    await view.locator('.transcript-scroller').evaluate((el) => (el.scrollTop = 0));
    return view.locator('body').innerText();
  }

  it('showsTheSetupOnTheFirstRunAndTheCachedEnvironmentOnTheNext', async () => {
    await wb.page.waitForFunction(
      () => Array.from(document.querySelectorAll('.statusbar-item')).some((e) => e.getAttribute('aria-label')?.includes('connected to')),
      undefined,
      { timeout: 60_000 },
    );
    await send('Read what setup installed', 'cat .deps/marker');
    const first = await finishedTranscript();
    await wb.shot('environment-1-setup');
    assert.match(first, /Run succeeded/, first);
    assert.match(first, /Environment set up[\s\S]*setting-up/, 'the setup block with its output');
    assert.match(first, /Environment ready\n/, 'ready, built now');
    assert.doesNotMatch(first, /Environment ready \(cached\)/);
    assert.match(first, /installed-by-setup/, "the run's command read what setup made");
    assert.doesNotMatch(first, /left out/, 'no warning about network the setup did not ask for');

    await sidebar().locator('.run-actions [data-action=new]').click();
    await send('Read it again', 'cat .deps/marker');
    await sidebar().getByText('Read it again').first().waitFor({ timeout: 30_000 });
    const second = await finishedTranscript();
    await wb.shot('environment-2-cached');
    assert.match(second, /Run succeeded/, second);
    assert.match(second, /Environment ready \(cached\)/, 'the second run reuses the environment and says so');
    assert.doesNotMatch(second, /setting-up/, 'setup did not run again');
    assert.match(second, /installed-by-setup/);
    // The Send's progress ("listing…", "sending…") ends with the Send.
    await until(
      'no AstraForge progress left once the run has ended',
      async () => (await wb.page.locator('.notification-toast', { hasText: /listing|sending|starting the run/ }).count()) === 0,
      { timeoutMs: 10_000 },
    );
  });
});
