// The sidebar shows the environment's setup as it runs and its cached state.
import assert from 'node:assert/strict';
import { RunEvent, type RunEventData, type RunEventOf, type RunEventType } from '@astraforge/contract/runApi';
import { Transcript } from '../../webview-ui/src/transcript';

let seq = 0;
function ev<K extends RunEventType>(type: K, fields: RunEventData<K>): RunEventOf<K> {
  return RunEvent.parse({ seq: ++seq, type, ts: new Date(0).toISOString(), ...fields }) as RunEventOf<K>;
}
const texts = (t: Transcript) => t.rowsInRange(0, t.rowCount).map((r) => r.text);
const KEY = 'a'.repeat(32);

describe('environment events in the sidebar', () => {
  it('showsPreparingEnvironmentWithTheSetupOutputThenReady', () => {
    const t = new Transcript();
    t.apply([ev('environment.setup.started', { key: KEY, source: 'environment.json', command: 'npm ci' })]);
    const block = t.blocks.find((b) => b.title === 'Preparing environment…');
    assert.ok(block, texts(t).join('\n'));
    assert.equal(block.state, 'running');
    t.apply([
      ev('environment.setup.output', { stream: 'stdout', text: 'added 1 package\n' }),
      ev('environment.setup.finished', { key: KEY, exit_code: 0, duration_ms: 2500, timed_out: false }),
      ev('environment.ready', { key: KEY, cached: false, source: 'environment.json', bytes: 2048 }),
    ]);
    assert.deepEqual(texts(t), [
      'Environment set up',
      '$ npm ci',
      'added 1 package',
      'Environment ready',
      'environment.json · 2.0 KiB · key aaaaaaaaaaaa',
    ]);
    assert.equal(t.blocks[0].state, 'ok');
    assert.equal(t.blocks[0].detail, 'exit 0 · 2.5 s');
  });

  it('saysCachedWhenTheEnvironmentWasReused', () => {
    const t = new Transcript();
    t.apply([ev('environment.ready', { key: KEY, cached: true, source: 'devcontainer.json', bytes: 10 })]);
    assert.equal(texts(t)[0], 'Environment ready (cached)');
  });

  it('marksAFailedSetup', () => {
    const t = new Transcript();
    t.apply([
      ev('environment.setup.started', { key: KEY, source: 'environment.json', command: 'exit 3' }),
      ev('environment.setup.finished', { key: KEY, exit_code: 3, duration_ms: 10, timed_out: false }),
    ]);
    assert.equal(t.blocks[0].title, 'Environment setup failed');
    assert.equal(t.blocks[0].state, 'failed');
  });
});
