// The run event log: numbering, persistence before delivery, replay plus
// subscription without gaps, and collapsing of the oldest output.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunEvent } from '@astraforge/contract/runApi';
import { RunEventLog } from '../../server/src/runs/runEventLog';
import { FileRunStore } from '../../server/src/store/fileRunStore';

describe('run event log', () => {
  let dir: string;
  let store: FileRunStore;
  const runId = 'abcdef123456';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'af-events-'));
    store = new FileRunStore(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('numbersEventsAndPersistsThemBeforeListenersSeeThem', () => {
    const log = new RunEventLog(store, runId, 0, 1_000_000);
    const seen: number[] = [];
    log.replayAndSubscribe(0, (e) => {
      seen.push(e.seq);
      assert.ok(
        store.readEvents(runId, e.seq - 1).some((p) => p.seq === e.seq),
        'on disk before delivery',
      );
    });
    log.emit('agent.log', { text: 'a' });
    log.emit('agent.token', { text: 'b' });
    assert.deepEqual(seen, [1, 2]);
    const persisted = store.readEvents(runId, 0);
    assert.deepEqual(
      persisted.map((e) => [e.seq, e.type]),
      [
        [1, 'agent.log'],
        [2, 'agent.token'],
      ],
    );
    assert.deepEqual(persisted[1], { seq: 2, type: 'agent.token', ts: persisted[1].ts, text: 'b' });
  });

  it('replaysThenFollowsWithNothingLostOrRepeated', () => {
    const log = new RunEventLog(store, runId, 0, 1_000_000);
    for (let i = 0; i < 5; i++) log.emit('agent.log', { text: 'tick' });
    const live: RunEvent[] = [];
    const { past } = log.replayAndSubscribe(2, (e) => live.push(e));
    log.emit('agent.log', { text: 'tick' });
    assert.deepEqual(
      [...past, ...live].map((e) => e.seq),
      [3, 4, 5, 6],
    );
  });

  it('continuesNumberingAfterARestart', () => {
    new RunEventLog(store, runId, 0, 1_000_000).emit('agent.log', { text: 'a' });
    store.closeRun(runId);
    const again = new RunEventLog(new FileRunStore(dir), runId, 1, 1_000_000);
    assert.equal(again.emit('agent.log', { text: 'b' }).seq, 2);
  });

  it('collapsesTheOldestOutputButKeepsStateAndTheLastEvent', () => {
    const log = new RunEventLog(store, runId, 0, 20_000);
    log.emit('run.status', { status: 'running' });
    for (let i = 0; i < 400; i++) log.emit('command.output', { stream: 'stdout', text: `line ${i} ${'x'.repeat(80)}\n` });
    log.emit('run.finished', { status: 'succeeded' });
    const events = store.readEvents(runId, 0);
    const bytes = events.filter((e) => e.type === 'command.output').reduce((n, e) => n + JSON.stringify(e).length, 0);
    assert.ok(bytes <= 20_000, `output kept: ${bytes} bytes`);
    assert.equal(events[0].type, 'run.status');
    assert.equal(events[events.length - 1].type, 'run.finished');
    const markers = events.filter((e) => e.type === 'output.collapsed');
    assert.ok(markers.length >= 1);
    assert.ok(
      events.some((e) => e.type === 'command.output' && String(e.text).startsWith('line 399 ')),
      'the newest output stays',
    );
    assert.ok(!events.some((e) => e.type === 'command.output' && String(e.text).startsWith('line 0 ')), 'the oldest output went');
    const seqs = events.map((e) => e.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      'ids still increase',
    );
    assert.equal(new Set(seqs).size, seqs.length, 'ids stay unique');
  });
});
