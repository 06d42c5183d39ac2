// Starts the companion server: `node server/dist/main.js --host H --port P --data-dir D`.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadApiKey } from './apiKey';
import { buildApp } from './api/app';
import { loadConfig } from './config';
import { BwrapProvider } from './sandboxes/bwrap/bwrapProvider';
import { sandboxRootFor } from './sandboxes/host/sandboxRoot';
import { decideEnforcement, probeHostFacts } from './sandboxes/host/limitEnforcement';
import { CodexAgent, findCodexBinary } from './agents/codex/codexAgent';
import { UploadSpool } from './api/uploadSpool';
import { lockDataDir } from './dataDirLock';
import { DockerProvider } from './sandboxes/docker/dockerProvider';
import { CommandAgent } from './agents/commandAgent';
import { ModelGateway, upstreamProblem } from './gateway/modelGateway';
import { RunTokens } from './gateway/runTokens';
import { Conversations } from './toolkit/conversations';
import { ToolkitSessions } from './toolkit/toolkitSessions';
import { DeepAgent } from './agents/deepagent/deepAgent';
import { DeepAgentEngine } from './agents/deepagent/deepAgentEngine';
import { RunService } from './runs/runService';
import { SessionManager } from './sessions/sessionManager';
import { SnapshotStore } from './snapshots/snapshotStore';
import { SnapshotJanitor } from './snapshots/snapshotJanitor';
import { FileRunStore } from './store/fileRunStore';
import { SessionRecords } from './sessions/sessionRecords';
import { WorkspaceStore } from './sessions/workspaceStore';

/** Where a run sandbox's relay to the model gateway listens, on the sandbox's own loopback. */
const GATEWAY_RELAY_PORT = 4141;

async function main(): Promise<void> {
  const config = loadConfig(process.argv.slice(2));
  mkdirSync(config.dataDir, { recursive: true, mode: 0o711 });
  const unlockDataDir = lockDataDir(config.dataDir);
  process.on('exit', unlockDataDir);
  const apiKey = loadApiKey(config.dataDir);
  const sandboxRoot = sandboxRootFor(config.dataDir);
  const instanceId = createHash('sha256').update(config.dataDir).digest('hex').slice(0, 12);
  const workspaces = new WorkspaceStore(sandboxRoot);
  // ASTRAFORGE_RUNNER_BINARY: tests put a compromised runner here (test/fixtures/evil-runner).
  const runnerBinary = process.env.ASTRAFORGE_RUNNER_BINARY ?? resolve(__dirname, 'af-runner');
  const provider =
    config.sandbox === 'docker'
      ? await DockerProvider.connect({
          instanceId,
          runnerBinary,
          defaultImage: config.docker.defaultImage,
          images: config.images,
          dockerHost: config.docker.host,
          hardening: {
            ...(config.docker.readOnlyRootfs !== undefined ? { readOnlyRootfs: config.docker.readOnlyRootfs } : {}),
            ...(config.docker.capDrop ? { capDrop: config.docker.capDrop } : {}),
            ...(config.docker.securityOpt ? { securityOpt: config.docker.securityOpt } : {}),
            ...(config.docker.networkMode ? { networkMode: config.docker.networkMode } : {}),
          },
        })
      : new BwrapProvider({
          instanceId,
          bwrapPath: config.bwrapPath,
          runnerBinary,
          stateDir: join(sandboxRoot, 'sandbox'),
          images: config.images,
        });
  const logger = { level: process.env.ASTRAFORGE_LOG_LEVEL ?? 'info', redact: ['req.headers.authorization', 'req.headers["x-api-key"]'] };
  let log: (obj: Record<string, unknown>, msg: string) => void = () => undefined;
  const sessions = new SessionManager({
    instanceId,
    provider,
    records: new SessionRecords(join(config.dataDir, 'sessions')),
    workspaces,
    limits: config.limits,
    defaultTtlSeconds: config.defaultTtlSeconds,
    defaultTimeoutMs: config.defaultTimeoutMs,
    maxOutputBytes: config.maxOutputBytes,
    maxSessions: config.maxSessions,
    tombstoneSeconds: config.tombstoneSeconds,
    log: (obj, msg) => log(obj, msg),
  });
  const tokens = new RunTokens();
  const gatewaySocket = join(sandboxRoot, 'gateway', 'model.sock');
  const modelProblem = () => upstreamProblem(config.model);
  const deepAgents = new DeepAgentEngine({ sessions, gatewaySocket });
  const snapshots = new SnapshotStore(join(config.dataDir, 'snapshots'), config.snapshots);
  const runStore = new FileRunStore(join(config.dataDir, 'runs'));
  const runs = new RunService({
    store: runStore,
    sessions,
    snapshots,
    agents: [
      new CommandAgent(),
      new CodexAgent({
        hostBinary: findCodexBinary(),
        exposeDir: join(sandboxRoot, 'sandbox', 'agents'),
        modelProblem,
        streamRetries: config.agents.codexStreamRetries,
      }),
      new DeepAgent({ engine: deepAgents, modelProblem }),
    ],
    maxConcurrentRuns: config.runs.maxConcurrent,
    maxRunSeconds: config.runs.maxSeconds,
    sessionTtlSeconds: config.runs.sessionTtlSeconds,
    maxLogOutputBytes: config.runs.maxLogOutputBytes,
    log: (obj, msg) => log(obj, msg),
    gateway: { tokens, socketPath: gatewaySocket, relayPort: GATEWAY_RELAY_PORT, model: config.model.model },
  });
  const gateway = new ModelGateway({
    socketPath: gatewaySocket,
    upstream: config.model,
    tokens,
    onCall: (call) => runs.recordModelCall(call),
    logger,
  });
  const toolkitSessions = new ToolkitSessions(sessions, provider.name);
  const conversations = new Conversations({
    sessions: toolkitSessions,
    engine: deepAgents,
    tokens,
    model: config.model.model,
    modelProblem,
    commandTimeoutMs: config.defaultTimeoutMs,
  });
  const app = await buildApp({
    toolkitSessions,
    conversations,
    runs,
    snapshots,
    apiKey: apiKey.key,
    sessions,
    workspaces,
    maxFileBytes: config.maxFileBytes,
    defaultReadBytes: config.defaultReadBytes,
    uploads: new UploadSpool(join(config.dataDir, 'uploads')),
    logger,
    sseHeartbeatMs: config.sseHeartbeatMs,
  });
  log = (obj, msg) => app.log.info(obj, msg);
  // Once: which limits this host enforces and how (cgroup, Docker engine, or rlimits only).
  log(
    { limits_enforced: decideEnforcement(probeHostFacts(provider.name === 'docker' ? 'docker' : 'bwrap'), config.limits) },
    'sandbox limits',
  );
  await gateway.start();
  await sessions.start();
  runs.start();
  const snapshotJanitor = new SnapshotJanitor({
    store: snapshots,
    runs: () => runStore.allRuns(),
    retention: config.snapshots,
    log: (obj, msg) => log(obj, msg),
  });
  snapshotJanitor.start(config.snapshots.janitorIntervalSeconds * 1000);
  const address = await app.listen({ host: config.host, port: config.port });
  const url = address.replace('[::1]', 'localhost');
  // The one line launchers (the extension, the tests) parse; the key itself is never printed.
  process.stdout.write(
    `${JSON.stringify({ msg: 'astraforge server listening', url, api_key_from: apiKey.from, data_dir: config.dataDir })}\n`,
  );
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    snapshotJanitor.stop();
    await runs.stop();
    await app.close();
    await gateway.stop();
    await deepAgents.close();
    await sessions.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
}

main().catch((e) => {
  process.stderr.write(`astraforge server failed to start: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
