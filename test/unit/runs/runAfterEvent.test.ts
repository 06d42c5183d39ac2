// The extension keeps its runs current from their events: what each event
// changes in a run, and that an event already in the run changes nothing.
import assert from 'node:assert/strict';
import { RunEvent, type Run, type RunEventData, type RunEventOf, type RunEventType } from '@astraforge/contract/runApi';
import { runAfterEvent } from '../../../src/runs/runAfterEvent';

const queued: Run = {
  id: 'r1',
  agent: 'codex',
  task: { kind: 'spec', prompt: 'fix it' },
  status: 'queued',
  created_at: '2026-11-28T10:00:00.000Z',
  updated_at: '2026-11-28T10:00:00.000Z',
  snapshot_id: 's1',
  last_seq: 1,
};

function ev<K extends RunEventType>(seq: number, type: K, fields: RunEventData<K>): RunEventOf<K> {
  return RunEvent.parse({ seq, type, ts: `2026-11-28T10:00:${String(seq).padStart(2, '0')}.000Z`, ...fields }) as RunEventOf<K>;
}

/** The run after each event in turn, the ones that change nothing skipped. */
function replay(run: Run, events: RunEvent[]): Run {
  return events.reduce((r, e) => runAfterEvent(r, e) ?? r, run);
}

describe('runs kept current from their events', () => {
  it('followsTheStatusSessionAndEndOfATurn', () => {
    const run = replay(queued, [
      ev(2, 'run.status', { status: 'provisioning' }),
      ev(3, 'sandbox.ready', { session_id: 'sess-1' }),
      ev(4, 'run.status', { status: 'running' }),
      ev(5, 'agent.message', { text: 'done' }),
      ev(6, 'run.finished', { status: 'failed', error: 'tests fail' }),
    ]);
    assert.equal(run.status, 'failed');
    assert.equal(run.error, 'tests fail');
    assert.equal(run.session_id, 'sess-1');
    assert.equal(run.started_at, '2026-11-28T10:00:04.000Z');
    assert.equal(run.finished_at, '2026-11-28T10:00:06.000Z');
    assert.equal(run.last_seq, 6);
    assert.equal(run.updated_at, '2026-11-28T10:00:06.000Z');
  });

  it('takesTheRunsTotalUsageFromModelCalls', () => {
    const call = (seq: number, total?: number) =>
      ev(seq, 'model.call', {
        path: '/v1/responses',
        status: 200,
        duration_ms: 30,
        ...(total === undefined ? {} : { total_usage: { input_tokens: total, output_tokens: 1, total_tokens: total + 1 } }),
      });
    const run = replay(queued, [call(2, 100), call(3, 250)]);
    assert.deepEqual(run.usage, { input_tokens: 250, output_tokens: 1, total_tokens: 251 });
    assert.equal(runAfterEvent(run, call(4)), undefined, 'a call without a total leaves the usage as it was');
  });

  it('clearsTheLastTurnsEndOnAFollowUp', () => {
    const finished = replay(queued, [ev(2, 'run.finished', { status: 'failed', error: 'tests fail' })]);
    const again = replay(finished, [ev(3, 'run.followup', { message: 'try again' }), ev(4, 'run.status', { status: 'running' })]);
    assert.equal(again.status, 'running');
    assert.equal(again.error, undefined);
    assert.equal(again.finished_at, undefined);
    assert.equal(again.started_at, '2026-11-28T10:00:04.000Z');
  });

  it('leavesARunAloneForEventsItAlreadyHoldsOrThatChangeNothing', () => {
    const running: Run = { ...queued, status: 'running', last_seq: 5 };
    // Replayed from the start after the run was fetched: the fetched state stands.
    assert.equal(runAfterEvent(running, ev(2, 'run.status', { status: 'provisioning' })), undefined);
    assert.equal(runAfterEvent(running, ev(6, 'command.output', { stream: 'stdout', text: 'x' })), undefined);
    assert.equal(runAfterEvent(running, ev(7, 'diff.ready', { files: 1, paths: ['a.ts'] })), undefined);
  });
});
