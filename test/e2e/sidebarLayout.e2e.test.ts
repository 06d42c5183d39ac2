// End to end, as a new user first sees it: the sidebar at VS Code's default
// width and squeezed to 200 px (nothing runs under anything else, every
// control is whole and named), a successful Codex run on a model Codex has
// no metadata for shows that warning as a note, not an error, and opening a
// JavaScript file in `npm start`'s VS Code shows no TypeScript error. A real VS Code (code-server) in
// headless Chromium; screenshots go to test-results/e2e/layout-*.png.
import assert from 'node:assert/strict';
import type { FrameLocator, Locator } from 'playwright-core';
import { runFromPalette, sidebarOf } from '../helpers/codeServer';
import { startScriptedModel, type ScriptedModel } from '../helpers/scriptedModel';
import { until } from '../helpers/until';
import { workbenchSuite } from '../helpers/workbenchSuite';

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The element's box in its own document (the webview's, for the sidebar's elements). */
async function boxOf(l: Locator): Promise<Box> {
  await l.waitFor();
  return l.evaluate((e) => {
    const r = e.getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  });
}

function overlap(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

/** Elements whose text is cut off (wider content than their box) without an ellipsis to say so. */
async function clippedWithoutEllipsis(view: FrameLocator, selector: string): Promise<string[]> {
  return view.locator('body').evaluate(
    (body, sel) =>
      Array.from(body.querySelectorAll<HTMLElement>(sel))
        .filter((e) => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).textOverflow !== 'ellipsis')
        .map((e) => `${e.className}: ${e.textContent}`),
    selector,
  );
}

describe('end to end: the sidebar as a new user sees it', function () {
  this.timeout(300_000);
  let model: ScriptedModel;

  before(async () => {
    // The real Codex against the scripted provider, under a model name Codex does not know (as Ollama's or vLLM's).
    model = await startScriptedModel([]);
  });
  const wb = workbenchSuite({
    shotPrefix: 'layout',
    codeServer: () => ({
      env: { ASTRAFORGE_MODEL_BASE_URL: model.baseUrl, ASTRAFORGE_MODEL_API_KEY: 'sk-layout-test', ASTRAFORGE_MODEL: 'scripted-model' },
    }),
  });
  after(async () => model?.close());

  const sidebar = (): FrameLocator => sidebarOf(wb.page);

  /** Drags the sash between the side bar and the editor until the side bar is `width` px wide. */
  async function setSidebarWidth(width: number): Promise<void> {
    const part = await boxOf(wb.page.locator('.part.sidebar')); // the workbench's own document: wb.page coordinates
    const y = part.y + part.height / 2;
    await wb.page.mouse.move(part.x + part.width + 1, y);
    await wb.page.mouse.down();
    await wb.page.mouse.move(part.x + width + 1, y, { steps: 8 });
    await wb.page.mouse.up();
    const now = await boxOf(wb.page.locator('.part.sidebar'));
    assert.ok(Math.abs(now.width - width) <= 4, `the side bar is ${now.width} px wide, asked for ${width}`);
  }

  async function viewWidth(view: FrameLocator): Promise<number> {
    return view.locator('body').evaluate((b) => b.clientWidth);
  }

  /** The new run's composer: the dropdowns and Start run side by side or stacked, never one under the other, each whole. */
  async function assertComposerLaidOut(view: FrameLocator, label: string): Promise<void> {
    const width = await viewWidth(view);
    const boxes = {
      kind: await boxOf(view.locator('#composer-kind')),
      agent: await boxOf(view.locator('#composer-agent')),
      start: await boxOf(view.locator('.composer button[type=submit]')),
    };
    assert.ok(!overlap(boxes.agent, boxes.start), `${label}: the agent dropdown and Start run do not overlap ${JSON.stringify(boxes)}`);
    assert.ok(!overlap(boxes.kind, boxes.agent), `${label}: the two dropdowns do not overlap`);
    for (const [name, b] of Object.entries(boxes))
      assert.ok(b.x >= 0 && b.x + b.width <= width + 0.5, `${label}: ${name} is whole inside the ${width} px view: ${JSON.stringify(b)}`);
    assert.deepEqual(await clippedWithoutEllipsis(view, '.composer button'), [], `${label}: no button text cut off`);
  }

  /** The shown run's header: status, agent and usage never under the buttons; starting another run is a named button. */
  async function assertHeaderLaidOut(view: FrameLocator, label: string): Promise<void> {
    const width = await viewWidth(view);
    const actions = await boxOf(view.locator('.run-actions'));
    for (const part of ['.run-status', '.run-header .run-meta', '.run-header-title']) {
      assert.ok(!overlap(await boxOf(view.locator(part)), actions), `${label}: ${part} does not run under the buttons`);
    }
    assert.ok(actions.x >= 0 && actions.x + actions.width <= width + 0.5, `${label}: the run's buttons are whole`);
    assert.equal((await view.locator('.run-actions [data-action=new]').innerText()).trim(), 'New run', `${label}: New run says so`);
    assert.deepEqual(await clippedWithoutEllipsis(view, '.run-header *'), [], `${label}: no text cut off without an ellipsis`);
  }

  it('fitsTheComposerAndTheRunHeaderAtTheDefaultWidthAndAt200Px', async () => {
    await wb.page.locator('.statusbar-item[aria-label*="connected to"]').first().waitFor({ timeout: 60_000 });
    await runFromPalette(wb.page, 'AstraForge: Show Sidebar');
    const view = sidebar();
    await view.locator('.composer').waitFor({ timeout: 30_000 });
    await view.locator('#composer-agent').selectOption('command');
    await view.locator('#composer-input').fill('Print a greeting');
    await view.locator('#composer-command').fill('echo hello from the layout test');
    await wb.shot('layout-1-composer-default-width');
    await assertComposerLaidOut(view, 'default width');
    await view.locator('.composer button[type=submit]').click();
    await view.getByText('Run succeeded').first().waitFor({ timeout: 60_000 });
    // The progress notification of the start goes once the run is on screen.
    await wb.page.locator('.notification-toast', { hasText: 'starting the run' }).waitFor({ state: 'detached', timeout: 15_000 });
    await wb.shot('layout-2-run-default-width');
    await assertHeaderLaidOut(view, 'default width');

    await setSidebarWidth(200);
    await wb.page.waitForTimeout(300); // the webview lays out again after the resize
    await wb.shot('layout-3-run-200px');
    await assertHeaderLaidOut(view, '200 px');
    await view.locator('.run-actions [data-action=new]').click();
    await view.locator('#composer-agent').waitFor();
    await wb.shot('layout-4-composer-200px');
    await assertComposerLaidOut(view, '200 px');
  });

  it('showsCodexsWarningAboutAnUnknownModelAsANoteOnASuccessfulRun', async () => {
    model.script.push({ say: 'Nothing to change here.' });
    const view = sidebar();
    if (await view.locator('.run-actions [data-action=new]').isVisible()) await view.locator('.run-actions [data-action=new]').click();
    await view.locator('#composer-agent').selectOption('codex');
    await view.locator('#composer-input').fill('Look at the project and say hello');
    await view.locator('.composer button[type=submit]').click();
    await view.getByText('Run succeeded').first().waitFor({ timeout: 120_000 });
    await view.getByText('Agent warning').first().waitFor({ timeout: 5000 });
    await wb.shot('layout-5-codex-warning');
    assert.equal(await view.getByText('Agent error').count(), 0, 'no red error on a run that succeeded');
    // The header follows the run's record, a moment after the transcript's last event.
    await until(
      'the header to say succeeded',
      async () => (await view.locator('.run-status-label').innerText()).toLowerCase() === 'succeeded' || undefined,
      {
        timeoutMs: 10_000,
      },
    );
  });

  it('opensAJavaScriptFileWithoutATypeScriptError', async () => {
    await wb.page.keyboard.press('Control+P');
    const input = wb.page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill('total.js');
    await wb.page.locator('.quick-input-list .monaco-list-row', { hasText: 'total.js' }).first().waitFor();
    await wb.page.keyboard.press('Enter');
    await wb.page.locator('.monaco-editor .view-lines').first().waitFor();
    // The built-in TypeScript extension starts its server for the file: it answers hovers once it runs.
    // The cursor on `orderTotal` (line 2, column 12), however the line is split into coloured spans.
    await wb.page.locator('.monaco-editor .view-line', { hasText: 'function orderTotal' }).first().waitFor({ timeout: 30_000 });
    await wb.page.locator('.monaco-editor .view-lines').first().click();
    await wb.page.keyboard.press('Control+G');
    await wb.page.locator('.quick-input-widget input').fill(':2:12');
    await wb.page.keyboard.press('Enter');
    let lastHover = '';
    const answered = await until(
      () => `TypeScript to answer a hover, or an error toast (the last hover said ${JSON.stringify(lastHover)})`,
      async () => {
        const toasts = await wb.page.locator('.notification-toast').allInnerTexts();
        const error = toasts.find((t) => /tsserver|TypeScript/i.test(t));
        if (error) return `toast: ${error}`;
        // Show Hover at the cursor (Ctrl+K Ctrl+I), as a keyboard user would.
        await wb.page.keyboard.press('Control+K');
        await wb.page.keyboard.press('Control+I');
        const hover = (await wb.page.locator('.monaco-hover').allInnerTexts()).join('\n');
        lastHover = hover;
        return /orderTotal\(/.test(hover) ? 'hover' : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    await wb.shot('layout-6-javascript-file');
    assert.equal(answered, 'hover', 'the TypeScript server runs and no error toast appears');
  });
});
