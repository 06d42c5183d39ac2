// The real LangChain DeepAgent at work: its model through the gateway (the
// scripted provider the only stand-in), every tool inside the sandbox.
import assert from 'node:assert/strict';
import { ApiClient } from '../helpers/apiClient';
import { readRunEvents, waitForRun } from '../helpers/runHelpers';
import type { ScriptedModel } from '../helpers/scriptedModel';
import { startAgentFixture, type AgentFixture } from '../helpers/agentFixture';

const REAL_KEY = `sk-provider-${Math.random().toString(36).slice(2)}-secret`;

describe('deepagent agent', function () {
  this.timeout(120_000);
  let model: ScriptedModel;
  let api: ApiClient;
  let snapshotId: string;

  let fixture: AgentFixture;

  before(async () => {
    fixture = await startAgentFixture(REAL_KEY, { 'README.md': '# demo\n', 'src/util.py': 'def add(a, b):\n    return a - b\n' });
    ({ model, api, snapshotId } = fixture);
  });

  after(async () => {
    await fixture?.dispose();
  });

  it('editsFilesInTheSandboxThroughItsTools', async () => {
    model.script.push(
      { call: 'write_todos', args: { todos: [{ content: 'Fix add', status: 'in_progress' }] } },
      { call: 'edit_file', args: { file_path: '/workspace/src/util.py', old_string: 'return a - b', new_string: 'return a + b' } },
      { call: 'write_file', args: { file_path: '/workspace/NOTES.md', content: 'fixed add\n' } },
      {
        call: 'execute',
        args: { command: 'python3 -B -c "import sys; sys.path.insert(0, \'src\'); import util; print(util.add(2, 3))"; id -u' },
      },
      { call: 'execute', args: { command: 'env; cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" "\\n"' } },
      { say: 'Fixed add() and noted it.' },
    );
    const created = await api.post('/api/runs', {
      agent: 'deepagent',
      task: { kind: 'spec', prompt: 'Fix add().' },
      snapshot_id: snapshotId,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const runId = created.body.id;
    const events = await readRunEvents(api, runId);
    const finished = events.at(-1)!.data;
    assert.equal(finished.status, 'succeeded', JSON.stringify(events.map((e) => e.data).slice(-6)));

    const results = events.filter((e) => e.data.type === 'tool.finished').map((e) => e.data);
    const run = results.find((r) => String(r.output).includes('5\n'));
    assert.ok(run, `python did not print 5 inside the sandbox: ${JSON.stringify(results).slice(0, 800)}`);
    // The sandbox user: 1000 under bubblewrap, the session's own unprivileged uid under Docker.
    const sandboxUid = process.env.ASTRAFORGE_TEST_SANDBOX === 'docker' ? /\b[1-9]\d{3,}\b/ : /\b1000\b/;
    assert.match(String(run.output), sandboxUid, 'the command ran as the sandbox user');
    assert.ok(
      events.some((e) => e.data.type === 'todo.updated' && e.data.items[0]?.text === 'Fix add'),
      JSON.stringify(events.map((e) => e.data.type)),
    );
    assert.ok(events.some((e) => e.data.type === 'agent.token'));
    assert.ok(events.some((e) => e.data.type === 'agent.message' && e.data.text.includes('Fixed add()')));

    const calls = model.requests.filter((r) => r.path === '/v1/chat/completions');
    assert.equal(calls.length, 6);
    for (const call of calls) {
      assert.equal(call.headers.authorization, `Bearer ${REAL_KEY}`);
      const at = call.raw.indexOf('sk-provider-');
      assert.ok(at < 0, `the key went back to the model: ${call.raw.slice(Math.max(0, at - 300), at + 100)}`);
    }
    assert.ok(calls[5].raw.includes('HOME=/home/sandbox'), 'the environment dump did not come back');

    const diff = await api.get(`/api/runs/${runId}/diff`);
    const byPath = Object.fromEntries(diff.body.files.map((f: { path: string }) => [f.path, f]));
    assert.deepEqual(Object.keys(byPath).sort(), ['NOTES.md', 'src/util.py']);
    assert.match(byPath['src/util.py'].patch, /\+ {4}return a \+ b/);
    const info = (await api.get(`/api/runs/${runId}`)).body;
    assert.equal(info.usage.total_tokens, 6 * 28);
  });

  it('continuesTheSameThreadOnAFollowUp', async () => {
    model.script.push({ say: 'Noted.' });
    const created = await api.post('/api/runs', {
      agent: 'deepagent',
      task: { kind: 'spec', prompt: 'Remember the word walnut.' },
      snapshot_id: snapshotId,
    });
    const runId = created.body.id;
    await waitForRun(api, runId, ['succeeded', 'failed'], 60_000);
    const before = model.requests.length;
    model.script.push({ say: 'Still here.' });
    const follow = await api.post(`/api/runs/${runId}/messages`, { message: 'What was the word?' });
    assert.equal(follow.status, 202);
    const run = await waitForRun(api, runId, ['succeeded', 'failed'], 60_000);
    assert.equal(run.status, 'succeeded', run.error);
    const raw = model.requests[before].raw;
    assert.ok(raw.includes('Remember the word walnut.') && raw.includes('What was the word?'), 'the thread did not carry over');
  });

  it('failsTheRunWhenTheProviderErrors', async () => {
    model.script.push(
      { status: 500, body: { error: { message: 'upstream exploded' } } },
      { status: 500, body: { error: { message: 'upstream exploded' } } },
    );
    const created = await api.post('/api/runs', {
      agent: 'deepagent',
      task: { kind: 'spec', prompt: 'Anything.' },
      snapshot_id: snapshotId,
    });
    const run = await waitForRun(api, created.body.id, ['succeeded', 'failed'], 60_000);
    assert.equal(run.status, 'failed');
    assert.match(run.error, /500|exploded/);
  });

  it('cancelsMidTurnWhileTheProviderHangs', async () => {
    model.script.length = 0;
    model.script.push({ hang: true });
    const created = await api.post('/api/runs', {
      agent: 'deepagent',
      task: { kind: 'spec', prompt: 'Anything.' },
      snapshot_id: snapshotId,
    });
    await model.hung;
    const t0 = Date.now();
    await api.post(`/api/runs/${created.body.id}/cancel`, {});
    const run = await waitForRun(api, created.body.id, ['cancelled', 'failed', 'succeeded'], 20_000);
    assert.equal(run.status, 'cancelled');
    assert.ok(Date.now() - t0 < 10_000);
  });
});
