// The run events as the real server sends them: each one fits its schema in
// the contract, field for field, and the OpenAPI document lists every event
// type as a component of the events endpoint.
import assert from 'node:assert/strict';
import { RunEvent, RunEventName, RunEventType } from '@astraforge/contract/runApi';
import { ApiClient } from '../helpers/apiClient';
import { makeTree, readRunEvents, uploadTree } from '../helpers/runHelpers';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

describe('run event schemas', function () {
  let server: ServerProcess;
  let api: ApiClient;

  before(async () => {
    server = await startServer();
    api = new ApiClient(server.url, server.apiKey);
  });
  after(async () => server?.dispose());

  it('sendsEventsThatFitTheContractFieldForField', async () => {
    const up = await uploadTree(api, makeTree({ 'a.txt': 'one\n' }));
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const created = await api.post('/api/runs', {
      agent: 'command',
      task: { kind: 'spec', prompt: 'edit', command: 'echo two >> a.txt && echo oops >&2' },
      snapshot_id: up.body.snapshot_id,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const events = (await readRunEvents(api, created.body.id)).map((e) => e.data);
    const types = events.map((e) => e.type);
    for (const t of [
      RunEventName.runCreated,
      RunEventName.runStatus,
      RunEventName.sandboxReady,
      RunEventName.commandStarted,
      RunEventName.commandOutput,
      RunEventName.commandFinished,
      RunEventName.diffReady,
      RunEventName.runFinished,
    ])
      assert.ok(types.includes(t), `no ${t} in ${JSON.stringify(types)}`);
    for (const e of events) {
      const parsed = RunEvent.safeParse(e);
      assert.ok(parsed.success, `${JSON.stringify(e)}: ${parsed.error?.message}`);
      assert.deepEqual(parsed.data, e, 'no field of it is unknown to the schema');
    }
  });

  it('listsEveryEventTypeInTheOpenApiDocument', async () => {
    const r = await api.get('/api/openapi.json');
    assert.equal(r.status, 200);
    const schemas = r.body.components.schemas as Record<string, any>;
    const stream = r.body.paths['/api/runs/{id}/events'].get.responses['200'].content['text/event-stream'].schema;
    const union = schemas[stream.$ref.replace('#/components/schemas/', '')];
    const listed = (union.oneOf as { $ref: string }[]).map(
      (o) => schemas[o.$ref.replace('#/components/schemas/', '')].properties.type.enum[0],
    );
    assert.deepEqual([...listed].sort(), [...RunEventType.options].sort());
    assert.ok(!Object.keys(schemas).some((k) => k.endsWith('Input')), `unused input copies: ${Object.keys(schemas).join(', ')}`);
  });
});
