// The real Codex CLI at work in the sandbox, through the model gateway, with
// a scripted model provider as the only stand-in.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { ApiClient } from '../helpers/apiClient';
import { makeTree, readRunEvents, uploadTree, waitForRun } from '../helpers/runHelpers';
import type { ScriptedModel } from '../helpers/scriptedModel';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { startAgentFixture, type AgentFixture } from '../helpers/agentFixture';

const REAL_KEY = `sk-provider-${Math.random().toString(36).slice(2)}-secret`;

describe('codex agent', function () {
  this.timeout(120_000);
  let model: ScriptedModel;
  let server: ServerProcess;
  let api: ApiClient;
  let snapshotId: string;

  let fixture: AgentFixture;

  before(async () => {
    fixture = await startAgentFixture(
      REAL_KEY,
      { 'README.md': '# demo\n', 'src/app.js': 'console.log("hello");\n' },
      { agents: { codexStreamRetries: 0 } },
    );
    ({ model, server, api, snapshotId } = fixture);
  });

  after(async () => {
    await fixture?.dispose();
  });

  it('editsFilesThroughTheGatewayWithoutSeeingTheKey', async () => {
    model.script.push(
      { call: 'exec_command', args: { cmd: 'printf "fixed\\n" > src/fixed.txt && sed -i s/hello/hi/ src/app.js && echo wrote' } },
      // What the sandbox can reach: the gateway relay, and nothing else (not the server's own port, not the outside).
      {
        call: 'exec_command',
        args: {
          cmd: `(echo > /dev/tcp/127.0.0.1/4141) 2>/dev/null && echo relay-open; (echo > /dev/tcp/127.0.0.1/${new URL(server.url).port}) 2>/dev/null || echo server-closed; (timeout 3 bash -c 'echo > /dev/tcp/1.1.1.1/80') 2>/dev/null || echo outside-closed`,
        },
      },
      // The scripted turn dumps what the sandbox holds: environment, every process's environ and command line, home.
      {
        call: 'exec_command',
        args: {
          cmd: 'env; cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" "\\n"; ls -la ~ /tmp; grep -r . ~/.codex 2>/dev/null | head -200',
        },
      },
      { say: 'I changed app.js and added fixed.txt.' },
    );
    const created = await api.post('/api/runs', {
      agent: 'codex',
      task: { kind: 'spec', prompt: 'Say hi instead of hello.' },
      snapshot_id: snapshotId,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const runId = created.body.id;
    const events = await readRunEvents(api, runId);
    const types = events.map((e) => e.data.type);
    const finished = events.at(-1)!.data;
    assert.equal(finished.type, 'run.finished');
    assert.equal(finished.status, 'succeeded', JSON.stringify(events.map((e) => e.data).slice(-8)));

    // Codex's work arrived as run events.
    assert.ok(types.includes('agent.thread'));
    const tools = events.filter((e) => e.data.type === 'tool.finished').map((e) => e.data);
    assert.ok(
      tools.some((t) => String(t.output).includes('wrote') && t.exit_code === 0),
      JSON.stringify(tools).slice(0, 500),
    );
    assert.ok(events.some((e) => e.data.type === 'agent.message' && e.data.text.includes('I changed app.js')));

    // The provider saw the real key on every call, and nothing the sandbox sent back contains it.
    const calls = model.requests.filter((r) => r.path === '/v1/responses');
    assert.ok(
      calls.length >= 4,
      `expected four model calls, got ${calls.length}: ${JSON.stringify(events.map((e) => e.data)).slice(0, 3000)}`,
    );
    const reach = tools.find((t) => String(t.command).includes('relay-open'));
    assert.ok(reach, 'the reachability probe did not run');
    assert.match(String(reach.output), /relay-open[\s\S]*server-closed[\s\S]*outside-closed/);
    for (const call of calls) {
      assert.equal(call.headers.authorization, `Bearer ${REAL_KEY}`);
      assert.equal(call.body.model, 'scripted-model');
      assert.ok(!call.raw.includes(REAL_KEY), 'the key reached the model in a request body');
    }
    const dump = calls[3].raw;
    assert.ok(dump.includes('HOME=/home/sandbox'), 'the environment dump did not come back');
    assert.ok(!dump.includes('sk-provider-'), 'the sandbox saw the provider key');

    // What the sandbox did hold is the turn's token, and it died with the turn.
    const token = /af-run-[A-Za-z0-9_-]+/.exec(dump)?.[0];
    assert.ok(token, 'the run token was not in the codex process environment');
    const viaGateway = await request('http://gateway/v1/responses', {
      method: 'POST',
      dispatcher: new Agent({ connect: { socketPath: join(server.dataDir, 'gateway', 'model.sock') } }),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input: 'hello', stream: false }),
    });
    assert.equal(viaGateway.statusCode, 401);
    assert.match(await viaGateway.body.text(), /expired run token/);

    // The diff holds the edits; the run shows its token usage.
    const diff = await api.get(`/api/runs/${runId}/diff`);
    const paths = diff.body.files.map((f: { path: string }) => f.path).sort();
    assert.deepEqual(paths, ['src/app.js', 'src/fixed.txt']);
    assert.match(diff.body.files.find((f: { path: string }) => f.path === 'src/app.js').patch, /\+console\.log\("hi"\);/);
    const run = (await api.get(`/api/runs/${runId}`)).body;
    assert.equal(run.usage?.total_tokens, calls.length * 28, JSON.stringify(run.usage));
  });

  it('resumesTheSameCodexThreadOnAFollowUp', async () => {
    model.script.push({ say: 'First turn done.' });
    const created = await api.post('/api/runs', {
      agent: 'codex',
      task: { kind: 'spec', prompt: 'Remember the word walnut.' },
      snapshot_id: snapshotId,
    });
    const runId = created.body.id;
    await waitForRun(api, runId, ['succeeded', 'failed'], 60_000);
    const before = model.requests.length;
    model.script.push({ call: 'exec_command', args: { cmd: 'echo second > second.txt' } }, { say: 'Second turn done.' });
    const follow = await api.post(`/api/runs/${runId}/messages`, { message: 'Now write second.txt.' });
    assert.equal(follow.status, 202, JSON.stringify(follow.body));
    const run = await waitForRun(api, runId, ['succeeded', 'failed'], 60_000);
    assert.equal(run.status, 'succeeded', run.error);
    // The resumed conversation carries the first turn's messages.
    const resumed = model.requests[before];
    assert.ok(resumed.raw.includes('Remember the word walnut.'), 'the follow-up did not resume the thread');
    assert.ok(resumed.raw.includes('Now write second.txt.'));
    const diff = await api.get(`/api/runs/${runId}/diff`);
    assert.deepEqual(
      diff.body.files.map((f: { path: string }) => f.path),
      ['second.txt'],
    );
  });

  it('reportsCodexsWarningAboutAModelItDoesNotKnowAsAWarningNotAnError', async () => {
    // The fixture's model, "scripted-model", is one Codex has no metadata for (like any Ollama, vLLM or Azure name).
    model.script.push({ say: 'Done.' });
    const created = await api.post('/api/runs', { agent: 'codex', task: { kind: 'spec', prompt: 'Anything.' }, snapshot_id: snapshotId });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const events = (await readRunEvents(api, created.body.id)).map((e) => e.data);
    assert.equal(events.at(-1).status, 'succeeded', JSON.stringify(events.slice(-6)));
    const warnings = events.filter((e) => e.type === 'agent.warning');
    assert.ok(
      warnings.some((w) => /Model metadata for `scripted-model` not found/.test(w.message)),
      JSON.stringify(events.map((e) => [e.type, e.message])),
    );
    for (const w of warnings) assert.deepEqual(Object.keys(w).sort(), ['item_id', 'message', 'seq', 'ts', 'type']);
    const errors = events.filter((e) => e.type === 'agent.error');
    assert.deepEqual(errors, [], 'a successful run reports no agent error');
  });

  it('failsTheRunWhenTheProviderBreaksMidStream', async () => {
    model.script.push({ failMidStream: true });
    const created = await api.post('/api/runs', { agent: 'codex', task: { kind: 'spec', prompt: 'Anything.' }, snapshot_id: snapshotId });
    const run = await waitForRun(api, created.body.id, ['succeeded', 'failed'], 60_000);
    assert.equal(run.status, 'failed');
    assert.ok(run.error, 'a failed run says why');
    // Codex's own failure stays an error, the turn's end a fatal one.
    const errors = (await readRunEvents(api, created.body.id)).map((e) => e.data).filter((e) => e.type === 'agent.error');
    assert.ok(
      errors.some((e) => e.fatal === true),
      JSON.stringify(errors),
    );
  });

  it('cancelsMidTurnWhileTheProviderHangs', async () => {
    model.script.push({ hang: true });
    const created = await api.post('/api/runs', { agent: 'codex', task: { kind: 'spec', prompt: 'Anything.' }, snapshot_id: snapshotId });
    await model.hung;
    const t0 = Date.now();
    await api.post(`/api/runs/${created.body.id}/cancel`, {});
    const run = await waitForRun(api, created.body.id, ['cancelled', 'failed', 'succeeded'], 20_000);
    assert.equal(run.status, 'cancelled');
    assert.ok(Date.now() - t0 < 10_000, 'cancel took too long');
  });
});

describe('model-driven agents without a model provider', function () {
  this.timeout(30_000);
  let server: ServerProcess;
  before(async () => {
    server = await startServer();
  });
  after(async () => server?.dispose());

  for (const agent of ['codex', 'deepagent']) {
    it(`refuses${agent}RunsWithWhatToSet`, async () => {
      const api = new ApiClient(server.url, server.apiKey);
      const tree = makeTree({ 'a.txt': 'a\n' });
      const snap = (await uploadTree(api, tree)).body.snapshot_id;
      rmSync(tree, { recursive: true, force: true });
      const res = await api.post('/api/runs', { agent, task: { kind: 'spec', prompt: 'x' }, snapshot_id: snap });
      assert.equal(res.status, 400);
      assert.equal(res.body.error_code, 'INVALID_REQUEST');
      assert.match(res.body.message, /ASTRAFORGE_MODEL_BASE_URL/);
      assert.match(res.body.message, /config\.json/);
    });
  }
});
