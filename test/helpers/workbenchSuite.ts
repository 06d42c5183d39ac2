// The life of an end-to-end suite's VS Code, in one place: a code-server on
// a fresh copy of the sample workspace, headless Chromium on its workbench,
// a screenshot of the window when a test fails, and both closed after the
// suite. A suite calls workbenchSuite() inside its describe() and reads the
// window through what it returns.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { openBrowser, openWorkbench, startCodeServer, workbenchUrl, type CodeServer, type CodeServerOptions } from './codeServer';
import { REPO_ROOT } from './serverProcess';

/** Where the end-to-end suites put their screenshots. */
export const SHOTS = join(REPO_ROOT, 'test-results', 'e2e');

export interface WorkbenchSuiteOptions {
  /** Names the screenshot of a failed test: `<prefix>-failed-<test title>.png`. */
  shotPrefix: string;
  /** code-server's options, asked for when the suite starts (after the suite's own earlier before hooks). */
  codeServer?: () => CodeServerOptions;
  /** Runs once code-server is up and before the window opens: files the folder or the background server read at start. */
  prepare?: (cs: CodeServer) => void | Promise<void>;
  /** Opens the first window (by default a page of its own on the workbench). */
  open?: (browser: Browser, cs: CodeServer) => Promise<Page>;
}

export interface WorkbenchSuite {
  /** The code-server; a suite that restarts it sets the new one here. */
  cs: CodeServer;
  browser: Browser;
  /** The window the tests drive; a suite that opens another sets it here. */
  page: Page;
  /** Saves a screenshot of the window as `<name>.png` in SHOTS. */
  shot(name: string): Promise<void>;
}

/** Registers the suite's before, afterEach and after hooks; the returned fields are set once `before` has run. */
export function workbenchSuite(o: WorkbenchSuiteOptions): WorkbenchSuite {
  const suite = {
    shot: async (name: string) => {
      await suite.page.screenshot({ path: join(SHOTS, `${name}.png`) });
    },
  } as WorkbenchSuite;

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    suite.cs = await startCodeServer(o.codeServer?.());
    await o.prepare?.(suite.cs);
    suite.browser = await openBrowser();
    suite.page = await (o.open ?? ((browser, cs) => openWorkbench(browser, workbenchUrl(cs))))(suite.browser, suite.cs);
  });

  afterEach(async function () {
    // What the window showed when a test failed, beside the screenshots of the steps.
    const { page } = suite;
    if (this.currentTest?.state === 'failed' && page && !page.isClosed())
      await page.screenshot({ path: join(SHOTS, `${o.shotPrefix}-failed-${this.currentTest.title}.png`) }).catch(() => undefined);
  });

  after(async () => {
    await suite.browser?.close();
    await suite.cs?.stop();
  });

  return suite;
}
