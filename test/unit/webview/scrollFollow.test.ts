// Auto-scroll follows the output only while the reader is at the bottom.
import assert from 'node:assert/strict';
import { isAtBottom, ScrollFollow } from '../../../webview-ui/src/scrollFollow';
import { age, runTitle, sourceBadge, statusIcon, usageText } from '../../../webview-ui/src/runFormat';
import type { Run } from '@astraforge/contract/runApi';
import { statusIconLabel } from '@astraforge/contract/statusIcon';

describe('webview scroll following', () => {
  it('followsUntilTheReaderScrollsUpAndResumesAtTheBottom', () => {
    const f = new ScrollFollow();
    assert.equal(f.onGrow(), true);
    f.onScroll({ scrollTop: 100, clientHeight: 300, scrollHeight: 1000 });
    assert.equal(f.following, false);
    assert.equal(f.onGrow(), false, 'new rows do not move a reader who scrolled up');
    assert.equal(f.unseen, true, 'and the "Jump to latest" button shows');
    f.onScroll({ scrollTop: 699, clientHeight: 300, scrollHeight: 1000 });
    assert.equal(f.following, true);
    assert.equal(f.unseen, false);
    f.onScroll({ scrollTop: 0, clientHeight: 300, scrollHeight: 1000 });
    f.jumpToLatest();
    assert.equal(f.onGrow(), true);
  });

  it('countsTheLastFewPixelsAsTheBottom', () => {
    assert.ok(isAtBottom({ scrollTop: 697.5, clientHeight: 300, scrollHeight: 1000 }));
    assert.ok(!isAtBottom({ scrollTop: 690, clientHeight: 300, scrollHeight: 1000 }));
    assert.ok(isAtBottom({ scrollTop: 0, clientHeight: 300, scrollHeight: 200 }), 'short content is always at the bottom');
  });
});

describe('webview run formatting', () => {
  const run: Run = {
    id: 'r1',
    agent: 'codex',
    status: 'running',
    created_at: '2026-11-23T10:00:00.000Z',
    updated_at: '2026-11-23T10:00:00.000Z',
    snapshot_id: 's1',
    last_seq: 0,
    task: { kind: 'spec', prompt: '\n  Fix the flaky test\nin detail' },
    usage: { input_tokens: 12_345, output_tokens: 678, total_tokens: 13_023 },
  };

  it('titlesARunByTheFirstLineOfItsTask', () => {
    assert.equal(runTitle(run), 'Fix the flaky test');
    assert.equal(runTitle({ ...run, task: { kind: 'spec', prompt: 'y'.repeat(100) } }).length, 78);
  });

  it('namesAnAlertsRunByItsIssueWithTheTrackersBadge', () => {
    const fromAlert: Run = {
      ...run,
      task: { kind: 'error', prompt: 'TypeError: cart.items is undefined\n  at cartTotal (src/cart.js:3:14)' },
      source: {
        kind: 'glitchtip',
        issue_id: '42',
        title: 'TypeError in cartTotal',
        url: 'https://glitchtip.example/issues/42',
        alert_id: 'a1',
      },
    };
    assert.equal(runTitle(fromAlert), 'TypeError in cartTotal');
    assert.equal(sourceBadge(fromAlert), 'GlitchTip');
    assert.equal(sourceBadge({ ...fromAlert, source: { ...fromAlert.source!, kind: 'sentry' } }), 'Sentry');
    assert.equal(sourceBadge(run), undefined, "the user's own runs have no badge");
  });

  it('saysHowOldARunIs', () => {
    const t = Date.parse(run.created_at);
    assert.equal(age(run.created_at, t + 10_000), 'just now');
    assert.equal(age(run.created_at, t + 5 * 60_000), '5 min ago');
    assert.equal(age(run.created_at, t + 3 * 3600_000), '3 h ago');
    assert.equal(age(run.created_at, t + 2 * 86_400_000), '2 d ago');
  });

  it('showsStatusAndUsage', () => {
    assert.match(statusIcon('running'), /spin/);
    assert.equal(statusIcon('succeeded'), 'codicon-pass');
    // The quick pick and the status bar show the same icons, in VS Code's label syntax.
    assert.equal(statusIconLabel('running'), '$(loading~spin)');
    assert.equal(statusIconLabel('interrupted'), '$(debug-disconnect)');
    assert.equal(usageText(run), '12.3k in · 678 out');
    assert.equal(usageText({ ...run, usage: undefined }), undefined);
  });
});
