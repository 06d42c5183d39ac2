// The run event contract: one schema per event type, and what the agents'
// translators produce (from Codex's lines, from the DeepAgent's stream)
// fits it, field for field, even when Codex writes something unexpected.
import assert from 'node:assert/strict';
import { isDurableRunEvent, RunEvent, RunEventName, RunEventType } from '@astraforge/contract/runApi';
import type { AgentEvent } from '../../server/src/agents/agent';
import { translateCodexLine } from '../../server/src/agents/codex/codexEvents';
import { runEventOf } from '../../server/src/agents/deepagent/deepAgent';

/** The event as the log would store it; it must come out of the contract's parse unchanged. */
function assertFitsTheContract(e: AgentEvent, seq = 1): void {
  const stored = JSON.parse(JSON.stringify({ ...e.data, seq, type: e.type, ts: new Date(0).toISOString() }));
  const parsed = RunEvent.safeParse(stored);
  assert.ok(parsed.success, `${JSON.stringify(stored)}: ${parsed.error?.message}`);
  assert.deepEqual(parsed.data, stored, 'no field of it is unknown to the schema');
}

describe('run event contract', () => {
  it('hasOneSchemaForEveryEventType', () => {
    const schemaTypes = RunEvent.options.map((o) => o.shape.type.value);
    assert.deepEqual([...schemaTypes].sort(), [...RunEventType.options].sort());
    assert.equal(new Set(schemaTypes).size, schemaTypes.length);
  });

  it('refusesAnUnknownTypeAndAMissingField', () => {
    const ts = new Date(0).toISOString();
    assert.equal(RunEvent.safeParse({ seq: 1, type: 'run.exploded', ts }).success, false);
    assert.equal(RunEvent.safeParse({ seq: 1, type: RunEventName.runFinished, ts }).success, false, 'run.finished needs its status');
    assert.equal(RunEvent.safeParse({ seq: 1, type: RunEventName.runFinished, ts, status: 'succeeded' }).success, true);
  });

  it('makesStateChangesAndTheTerminalEventDurableButNotOutput', () => {
    for (const t of [RunEventName.runCreated, RunEventName.runStatus, RunEventName.runFinished, RunEventName.diffReady])
      assert.ok(isDurableRunEvent(t), t);
    for (const t of [RunEventName.commandOutput, RunEventName.agentToken, RunEventName.modelCall]) assert.ok(!isDurableRunEvent(t), t);
  });

  it('translatesCodexLinesIntoEventsThatFitTheContract', () => {
    const lines = [
      { type: 'thread.started', thread_id: 't-1' },
      { type: 'turn.started' },
      { type: 'item.started', item: { id: 'c1', type: 'command_execution', command: 'ls', status: 'in_progress' } },
      {
        type: 'item.completed',
        item: { id: 'c1', type: 'command_execution', command: 'ls', aggregated_output: 'a\n', exit_code: 0, status: 'completed' },
      },
      // Codex reports exit_code null while a command has none; the event leaves it out.
      { type: 'item.completed', item: { id: 'c2', type: 'command_execution', command: 'x', exit_code: null, status: 'failed' } },
      { type: 'item.completed', item: { id: 'm1', type: 'agent_message', text: 'done' } },
      { type: 'item.completed', item: { id: 'r1', type: 'reasoning', text: 'thinking' } },
      {
        type: 'item.completed',
        item: { id: 'f1', type: 'file_change', changes: [{ path: 'a.js', kind: 'update' }, 'junk'], status: 'completed' },
      },
      { type: 'item.started', item: { id: 'p1', type: 'mcp_tool_call', server: 's', tool: 't', arguments: { q: 1 } } },
      {
        type: 'item.completed',
        item: { id: 'p1', type: 'mcp_tool_call', server: 's', tool: 't', result: { ok: true }, status: 'completed' },
      },
      { type: 'item.started', item: { id: 'w1', type: 'web_search', query: 'zod' } },
      { type: 'item.updated', item: { id: 'l1', type: 'todo_list', items: [{ text: 'one', completed: true }, { completed: 'no' }] } },
      { type: 'item.completed', item: { id: 'e1', type: 'error', message: 'careful' } },
      { type: 'item.completed', item: { id: 'u1', type: 'something_new', stuff: [1] } },
      { type: 'turn.completed', usage: { input_tokens: 10, cached_input_tokens: 2, output_tokens: 3, note: 'x' } },
      { type: 'turn.failed', error: { message: 'boom' } },
      { type: 'error', message: 'reconnecting' },
      { type: 'brand.new' },
      // Wrong types where Codex should have strings, numbers and objects.
      { type: 'item.completed', item: { id: 7, type: 'command_execution', command: ['rm'], exit_code: '0', status: 3 } },
      { type: 'item.completed', item: { type: 'agent_message', text: { nested: true } } },
      { type: 'item.completed', item: 'not an object' },
    ].map((l) => JSON.stringify(l));
    lines.push('not json at all', 'null', '42');
    const state = {};
    const events = lines.flatMap((l) => translateCodexLine(l, state));
    assert.ok(events.length >= lines.length - 2, `${events.length} events`);
    events.forEach((e, i) => assertFitsTheContract(e, i + 1));
    const finished = events.find((e) => e.type === RunEventName.toolFinished && e.data.call_id === 'c1');
    assert.deepEqual(finished?.data, { call_id: 'c1', tool: 'shell', command: 'ls', output: 'a\n', exit_code: 0, status: 'completed' });
    const usage = events.find((e) => e.type === RunEventName.agentTurn && e.data.phase === 'completed');
    assert.deepEqual(usage?.data, { phase: 'completed', usage: { input_tokens: 10, cached_input_tokens: 2, output_tokens: 3 } });
  });

  it('translatesDeepAgentUpdatesIntoEventsThatFitTheContract', () => {
    const events = [
      runEventOf({ kind: 'token', text: 'he' }),
      runEventOf({ kind: 'message', role: 'assistant', content: 'hello' }),
      runEventOf({ kind: 'tool_start', callId: 'c', name: 'ls', args: { path: '/' } }),
      runEventOf({ kind: 'tool_result', callId: 'c', name: 'ls', output: 'a', isError: true }),
      runEventOf({ kind: 'todos', items: [{ text: 'x', status: 'in_progress' }] }),
    ];
    events.forEach((e, i) => assertFitsTheContract(e, i + 1));
    assert.deepEqual(events[3].data, { call_id: 'c', tool: 'ls', output: 'a', status: 'failed' });
  });
});
