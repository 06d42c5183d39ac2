// An alert run's link to its issue opens only web addresses.
import assert from 'node:assert/strict';
import type { Run } from '@astraforge/contract/runApi';
import { issueLink } from '../../../src/runs/issueLink';

const from = (url?: string): Pick<Run, 'source'> => ({
  source: { kind: 'sentry', issue_id: '42', title: 'TypeError in cartTotal', alert_id: 'a1', ...(url ? { url } : {}) },
});

describe('the link to an alert run’s issue', () => {
  it('opensTheIssuesWebAddress', () => {
    assert.equal(issueLink(from('https://sentry.io/organizations/acme/issues/42/')), 'https://sentry.io/organizations/acme/issues/42/');
    assert.equal(issueLink(from('http://glitchtip.internal:8000/acme/issues/7')), 'http://glitchtip.internal:8000/acme/issues/7');
  });

  it('opensNothingForOtherSchemesOrNoLink', () => {
    for (const url of ['command:workbench.action.terminal.new', 'file:///etc/passwd', 'javascript:alert(1)', 'vscode://x', 'not a url'])
      assert.equal(issueLink(from(url)), undefined, url);
    assert.equal(issueLink(from()), undefined);
    assert.equal(issueLink({}), undefined);
  });
});
