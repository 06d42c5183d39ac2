// What the agent suites share: a scripted model provider, a real server
// pointed at it with the provider's key, and a workspace snapshot uploaded.
import { rmSync } from 'node:fs';
import { ApiClient } from './apiClient';
import { makeTree, uploadTree } from './runHelpers';
import { startScriptedModel, type ScriptedModel } from './scriptedModel';
import { startServer, type ServerProcess } from './serverProcess';

export interface AgentFixture {
  model: ScriptedModel;
  server: ServerProcess;
  api: ApiClient;
  tree: string;
  snapshotId: string;
  dispose(): Promise<void>;
}

export async function startAgentFixture(
  realKey: string,
  files: Record<string, string>,
  config?: Record<string, unknown>,
): Promise<AgentFixture> {
  const model = await startScriptedModel([]);
  const server = await startServer({
    env: { ASTRAFORGE_MODEL_BASE_URL: model.baseUrl, ASTRAFORGE_MODEL_API_KEY: realKey, ASTRAFORGE_MODEL: 'scripted-model' },
    config,
  });
  const api = new ApiClient(server.url, server.apiKey);
  const tree = makeTree(files);
  const snapshotId = (await uploadTree(api, tree)).body.snapshot_id;
  return {
    model,
    server,
    api,
    tree,
    snapshotId,
    async dispose() {
      await server.dispose();
      await model.close();
      rmSync(tree, { recursive: true, force: true });
    },
  };
}
