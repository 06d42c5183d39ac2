// The sidebar's transcript reducer: events in, rows out, as the virtual list asks for them.
import assert from 'node:assert/strict';
import { RunEvent, type RunEventData, type RunEventOf, type RunEventType } from '@astraforge/contract/runApi';
import { wrapLine } from '../../../webview-ui/src/rowLayout';
import { Transcript } from '../../../webview-ui/src/transcript';

let seq = 0;
/** An event of the contract, checked against it. */
function ev<K extends RunEventType>(type: K, fields: RunEventData<K>): RunEventOf<K> {
  return RunEvent.parse({ seq: ++seq, type, ts: new Date(0).toISOString(), ...fields }) as RunEventOf<K>;
}
const texts = (t: Transcript) => t.rowsInRange(0, t.rowCount).map((r) => r.text);

describe('webview transcript', () => {
  beforeEach(() => {
    seq = 0;
  });

  it('buildsACommandBlockFromStreamedOutputWithPartialLines', () => {
    const t = new Transcript();
    t.apply([
      ev('run.created', { agent: 'command', task: { kind: 'spec', prompt: 'format it', command: 'prettier -w .' } }),
      ev('command.started', { command: 'prettier -w .' }),
      ev('command.output', { stream: 'stdout', text: 'a.ts 12' }),
      ev('command.output', { stream: 'stdout', text: 'ms\nb.ts' }),
      ev('command.output', { stream: 'stderr', text: ' 3ms\nwarn: x\n' }),
      ev('command.finished', {
        command: 'prettier -w .',
        exit_code: 0,
        duration_ms: 1500,
        truncated: false,
        timed_out: false,
        cancelled: false,
      }),
      ev('run.finished', { status: 'succeeded' }),
    ]);
    assert.deepEqual(texts(t), [
      'Task',
      'format it',
      '$ prettier -w .',
      '$ prettier -w .',
      'a.ts 12ms',
      'b.ts 3ms',
      'warn: x',
      'Run succeeded',
    ]);
    const cmd = t.blocks.find((b) => b.kind === 'command')!;
    assert.equal(cmd.state, 'ok');
    assert.equal(cmd.detail, 'exit 0 · 1.5 s');
    // The line that began on stdout keeps its stream; the stderr-only line is marked.
    assert.deepEqual(
      t.rowsInRange(4, 7).map((r) => r.stderr),
      [false, false, true],
    );
  });

  it('ignoresEventsItHasAlreadySeen', () => {
    const t = new Transcript();
    const batch = [ev('command.started', { command: 'echo' }), ev('command.output', { stream: 'stdout', text: 'once\n' })];
    t.apply(batch);
    assert.equal(t.apply(batch), false, 'a repeated batch changes nothing');
    t.apply([batch[1], ev('command.output', { stream: 'stdout', text: 'twice\n' })]);
    assert.deepEqual(texts(t), ['$ echo', 'once', 'twice']);
    assert.equal(t.lastSeq, 3);
  });

  it('streamsTokensIntoOneMessageThatTheFinalMessageReplaces', () => {
    const t = new Transcript();
    t.apply([ev('agent.token', { text: 'Hel' }), ev('agent.token', { text: 'lo\nwor' })]);
    assert.deepEqual(texts(t), ['Agent', 'Hello', 'wor']);
    assert.equal(t.blocks[0].streaming, true);
    t.apply([ev('agent.token', { text: 'ld' }), ev('agent.message', { text: 'Hello\nworld!' })]);
    assert.deepEqual(texts(t), ['Agent', 'Hello', 'world!']);
    assert.equal(t.blocks.length, 1);
    assert.equal(t.blocks[0].streaming, false);
  });

  it('matchesToolResultsToTheirCallsAndCollapsesThem', () => {
    const t = new Transcript();
    t.apply([
      ev('tool.started', { call_id: 'c1', tool: 'shell', command: 'npm test' }),
      ev('tool.started', { call_id: 'c2', tool: 'read_file', args: { file_path: '/workspace/a.ts' } }),
      ev('tool.finished', { call_id: 'c2', tool: 'read_file', output: 'line 1\nline 2', status: 'completed' }),
      ev('tool.finished', { call_id: 'c1', tool: 'shell', output: '1 failing', exit_code: 1, status: 'failed' }),
    ]);
    assert.deepEqual(texts(t), ['shell: npm test', 'read_file: /workspace/a.ts']);
    const [shell, read] = t.blocks;
    assert.equal(shell.state, 'failed');
    assert.equal(shell.detail, 'exit 1');
    assert.deepEqual(read.lines, ['line 1', 'line 2']);
    assert.ok(t.toggle(read.id));
    assert.deepEqual(texts(t), ['shell: npm test', 'read_file: /workspace/a.ts', 'line 1', 'line 2']);
    assert.ok(t.toggle(read.id));
    assert.equal(t.rowCount, 2);
  });

  it('keepsStreamedToolOutputRatherThanTheResultCopy', () => {
    const t = new Transcript();
    t.apply([
      ev('tool.started', { call_id: 'x', tool: 'execute', args: { command: 'ls' } }),
      ev('tool.output', { text: 'a\nb\n' }),
      ev('tool.finished', { call_id: 'x', tool: 'execute', output: 'a\nb\n[exit 0]', status: 'completed' }),
    ]);
    assert.deepEqual(t.blocks[0].lines, ['a', 'b']);
  });

  it('updatesThePlanInPlace', () => {
    const t = new Transcript();
    t.apply([
      ev('todo.updated', {
        items: [
          { text: 'reproduce', done: false },
          { text: 'fix', done: false },
        ],
      }),
    ]);
    t.apply([ev('agent.message', { text: 'working' })]);
    t.apply([
      ev('todo.updated', {
        items: [
          { text: 'reproduce', done: true },
          { text: 'fix', done: false, status: 'in_progress' },
        ],
      }),
    ]);
    assert.deepEqual(texts(t), ['Plan (1/2 done)', '☑ reproduce', '◐ fix', 'Agent', 'working']);
  });

  it('wrapsMessagesToTheViewWidthButNotOutput', () => {
    const t = new Transcript();
    const long = 'word '.repeat(30).trim(); // 149 characters
    t.apply([
      ev('agent.message', { text: long }),
      ev('command.started', { command: 'x' }),
      ev('command.output', { stream: 'stdout', text: `${long}\n` }),
    ]);
    t.setWrapColumns(50);
    const rows = t.rowsInRange(0, t.rowCount);
    const message = rows.filter((r) => r.block.kind === 'message' && r.line === 0);
    assert.equal(message.length, 3);
    assert.ok(message.every((r) => r.text.length <= 50));
    assert.equal(message.map((r) => r.text).join(' '), long);
    assert.equal(rows.filter((r) => r.block.kind === 'command' && r.line === 0).length, 1);
    assert.equal(t.setWrapColumns(50), false, 'the same width changes nothing');
  });

  it('servesAnyWindowOfAHundredThousandLines', () => {
    const t = new Transcript();
    t.apply([ev('command.started', { command: 'flood' })]);
    // Output arrives in chunks that do not respect line ends, as pipes deliver it.
    const chunk = Array.from({ length: 1000 }, (_, i) => `line-${i}`).join('\n');
    for (let k = 0; k < 100; k++) t.apply([ev('command.output', { stream: 'stdout', text: `${chunk}\n` })]);
    t.apply([ev('agent.message', { text: 'done' })]);
    assert.equal(t.rowCount, 1 + 100_000 + 2);
    const window = t.rowsInRange(50_001, 50_004).map((r) => r.text);
    assert.deepEqual(window, ['line-0', 'line-1', 'line-2']);
    assert.deepEqual(
      t.rowsInRange(t.rowCount - 2, t.rowCount + 10).map((r) => r.text),
      ['Agent', 'done'],
    );
  });

  it('showsDroppedOutputAndFailuresPlainly', () => {
    const t = new Transcript();
    t.apply([
      ev('output.collapsed', { from_seq: 3, to_seq: 90, events: 88, bytes: 3 * 1024 * 1024 }),
      ev('model.call', { path: '/v1/responses', status: 200, duration_ms: 5 }),
      ev('model.call', { path: '/v1/responses', status: 502, duration_ms: 5, error: 'upstream closed' }),
      ev('agent.error', { message: 'boom', fatal: true }),
      ev('run.finished', { status: 'failed', error: 'the command exited with 2' }),
    ]);
    assert.deepEqual(texts(t), [
      '88 earlier output events (3.0 MiB) were dropped to keep the log small',
      'Model call failed (502)',
      'upstream closed',
      'The agent failed',
      'boom',
      'Run failed',
      'the command exited with 2',
    ]);
  });

  it('showsAnAgentWarningAsANoteNotAnError', () => {
    const t = new Transcript();
    t.apply([ev('agent.warning', { message: 'Model metadata for `scripted` not found' })]);
    assert.deepEqual(texts(t), ['Agent warning', 'Model metadata for `scripted` not found']);
    assert.equal(t.blocks[0].kind, 'info');
  });

  it('wrapsAtSpacesAndSplitsWordsLongerThanALine', () => {
    assert.deepEqual(wrapLine('aaa bbb ccc', 7), ['aaa bbb', 'ccc']);
    assert.deepEqual(wrapLine('x'.repeat(25), 10), ['x'.repeat(10), 'x'.repeat(10), 'x'.repeat(5)]);
    assert.deepEqual(wrapLine('', 10), ['']);
  });

  it('breaksAStackFrameAfterItsPathPunctuationNeverLeavingALoneParenthesis', () => {
    const frame = '    at Object.<anonymous> (/home/user/project/src/services/orders/total.js:12:15)';
    for (let columns = 20; columns <= frame.length; columns++) {
      const pieces = wrapLine(frame, columns);
      assert.equal(pieces.join('').replace(/ /g, ''), frame.replace(/ /g, ''), `nothing lost at ${columns}`);
      for (const p of pieces) {
        assert.ok(p.length <= columns, `${JSON.stringify(p)} fits ${columns}`);
        assert.notEqual(p.trim(), ')', `no lone ")" at ${columns} columns: ${JSON.stringify(pieces)}`);
      }
    }
    assert.deepEqual(wrapLine('at run (/srv/app/node_modules/lib/index.js:1:2)', 40), [
      'at run (/srv/app/node_modules/lib/',
      'index.js:1:2)',
    ]);
  });
});
