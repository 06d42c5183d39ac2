// The network events in the sidebar's transcript: each host reached once, each
// refusal with its host, port, reason and rule.
import assert from 'node:assert/strict';
import { RunEvent, type RunEventData, type RunEventOf, type RunEventType } from '@astraforge/contract/runApi';
import { Transcript } from '../../webview-ui/src/transcript';

let seq = 0;
function ev<K extends RunEventType>(type: K, fields: RunEventData<K>): RunEventOf<K> {
  return RunEvent.parse({ seq: ++seq, type, ts: new Date(0).toISOString(), ...fields }) as RunEventOf<K>;
}

describe('network events in the transcript', () => {
  it('showsTheHostsReachedAndEachRefusal', () => {
    const t = new Transcript();
    t.apply([
      ev('network.allowed', { host: 'registry.npmjs.org', port: 443, rule: 'npm', address: '104.16.0.35' }),
      ev('network.blocked', { host: 'evil.example', port: 443, rule: 'no-rule', reason: 'no allow entry names evil.example:443' }),
    ]);
    const rows = t.rowsInRange(0, t.rowCount).map((r) => r.text);
    assert.deepEqual(rows, [
      'Network: reached registry.npmjs.org:443',
      'Network blocked: evil.example:443',
      'no allow entry names evil.example:443',
    ]);
  });

  it('refusesANetworkEventWithoutItsRule', () => {
    assert.equal(
      RunEvent.safeParse({ seq: 1, type: 'network.blocked', ts: new Date(0).toISOString(), host: 'x', port: 1, reason: 'r' }).success,
      false,
    );
  });
});
