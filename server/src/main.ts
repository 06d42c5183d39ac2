#!/usr/bin/env node
// Starts the companion server: `astraforge-server --host H --port P --data-dir D` (`--help` lists every setting).
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadApiKey } from './apiKey';
import { formatReadyLine } from '@astraforge/contract/serverReady';
import { buildApp } from './api/app';
import { loadConfig } from './config';
import { BwrapProvider } from './sandboxes/bwrap/bwrapProvider';
import { sandboxRootFor } from './sandboxes/host/sandboxRoot';
import { decideEnforcement, probeHostFacts } from './sandboxes/host/limitEnforcement';
import { CodexAgent, findCodexBinary } from './agents/codex/codexAgent';
import { UploadSpool } from './api/uploadSpool';
import { DataDirInUse, lockDataDir } from './dataDirLock';
import { instanceIdOf } from './instanceId';
import { DockerProvider } from './sandboxes/docker/dockerProvider';
import { KubernetesProvider } from './sandboxes/kubernetes/kubernetesProvider';
import { PodWorkspaceDiffer } from './sandboxes/kubernetes/podWorkspaceDiffer';
import { CommandAgent } from './agents/commandAgent';
import { ModelGateway, upstreamProblem } from './gateway/modelGateway';
import { RunTokens } from './gateway/runTokens';
import { EgressProxy } from './egress/egressProxy';
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
import { ServerLifecycle } from './lifecycle/serverLifecycle';
import { writeServerRecord } from './lifecycle/serverRecord';
import { createAlerts } from './alerts/alertsServer';
import { parseCommandLine } from './cli/serverSettings';
import { helpText } from './cli/helpText';
import { listenFailure, startupFailure } from './cli/startupErrors';
import { prettyStream, resolveLogFormat } from './cli/prettyLog';
import { RequestDrain } from './lifecycle/drainRequests';
import { UidAllocator } from './sessions/uidAllocator';

/** Where a run sandbox's relay to the model gateway listens, on the sandbox's own loopback. */
const GATEWAY_RELAY_PORT = 4141;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const commandLine = parseCommandLine(argv);
  if (commandLine.help) return void process.stdout.write(helpText());
  if (commandLine.version) return void process.stdout.write(`${packageVersion()}\n`);
  const config = loadConfig(argv);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o711 });
  const unlockDataDir = lockDataDir(config.dataDir);
  process.on('exit', unlockDataDir);
  const apiKey = loadApiKey(config.dataDir, config.apiKey);
  const sandboxRoot = sandboxRootFor(config.dataDir);
  const instanceId = instanceIdOf(config.dataDir);
  const workspaces = new WorkspaceStore(sandboxRoot);
  const runnerBinary = config.runnerBinary ?? resolve(__dirname, 'af-runner');
  const provider =
    config.sandbox === 'kubernetes'
      ? await KubernetesProvider.connect({ instanceId, ...config.kubernetes, log: (obj, msg) => log(obj, msg) })
      : config.sandbox === 'docker'
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
            pool: {
              size: config.pool.size,
              limits: config.limits,
              scratchDir: join(sandboxRoot, 'scratch'),
              mounterBinary: resolve(__dirname, 'af-mounter'),
              uids: new UidAllocator(instanceId),
            },
            log: (obj, msg) => log(obj, msg),
          });
  const logFormat = resolveLogFormat(config.logFormat, process.stdout.isTTY === true);
  const logger = {
    level: config.logLevel,
    redact: ['req.headers.authorization', 'req.headers["x-api-key"]'],
    ...(logFormat === 'pretty' ? { stream: prettyStream(process.stdout) } : {}),
  };
  let log: (obj: Record<string, unknown>, msg: string) => void = () => undefined;
  const egress = new EgressProxy({
    socketDir: join(sandboxRoot, 'egress'),
    // The CA's key stays in the data folder itself, never where sandboxes' folders may move (/var/lib/astraforge).
    caDir: join(config.dataDir, 'egress-ca'),
    config: config.network,
    log: (obj, msg) => log(obj, msg),
  });
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
    egress,
    layering: config.workspaceLayers,
    log: (obj, msg) => log(obj, msg),
  });
  const tokens = new RunTokens();
  const gatewaySocket = join(sandboxRoot, 'gateway', 'model.sock');
  const modelProblem = () => upstreamProblem(config.model);
  const deepAgents = new DeepAgentEngine({ sessions, gatewaySocket });
  const snapshots = new SnapshotStore(join(config.dataDir, 'snapshots'), config.snapshots);
  const runStore = new FileRunStore(join(config.dataDir, 'runs'));
  const runs = new RunService({
    // A pod's workspace comes back to the host folder before each diff.
    wrapDiffer: provider instanceof KubernetesProvider ? (host) => new PodWorkspaceDiffer(host, provider) : undefined,
    store: runStore,
    sessions,
    snapshots,
    agents: [
      new CommandAgent(),
      new CodexAgent({
        hostBinary: findCodexBinary(config.codexBinary),
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
    environments: config.environments,
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
  const toolkitSessions = new ToolkitSessions(sessions, provider.name, { workspaces, dataDir: join(config.dataDir, 'toolkit') });
  const conversations = new Conversations({
    sessions: toolkitSessions,
    engine: deepAgents,
    tokens,
    model: config.model.model,
    modelProblem,
    commandTimeoutMs: config.defaultTimeoutMs,
  });
  const stopServices = async () => {
    snapshotJanitor.stop();
    alerts.stop();
    await runs.stop();
    // Sandboxes before connections: an exec the drain time cut short answers with its session's end, not a dropped socket.
    await sessions.stop();
    await app.close();
    await gateway.stop();
    await deepAgents.close();
  };
  // Every way to end (a stop over the API, the idle timeout, a signal) goes through shutdown.
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    // Requests under way (a long exec) get their answer, within the drain time; then the rest is cut.
    await drain.drain(config.drainSeconds * 1000, log);
    await stopServices();
    process.exit(0);
  };
  const lifecycle = new ServerLifecycle({
    version: packageVersion(),
    build: config.build,
    idleExitSeconds: config.idleExitMinutes * 60,
    activeRuns: () => runs.activeRunCount(),
    shutdown,
    log: (obj, msg) => log(obj, msg),
  });
  const app = await buildApp({
    lifecycle,
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
  const drain = new RequestDrain(app);
  const alerts = createAlerts({ config: config.alerts, dataDir: config.dataDir, runs, snapshots, log: (obj, msg) => log(obj, msg) });
  await alerts.register(app);
  // Once: which limits this host enforces and how (cgroup, Docker engine, or rlimits only).
  log(
    { limits_enforced: decideEnforcement(probeHostFacts(provider.name === 'docker' ? 'docker' : 'bwrap'), config.limits) },
    'sandbox limits',
  );
  await gateway.start();
  await sessions.start();
  runs.start();
  alerts.start();
  const snapshotJanitor = new SnapshotJanitor({
    store: snapshots,
    runs: () => runStore.allRuns(),
    retention: config.snapshots,
    layers: runs.layerDisk,
    log: (obj, msg) => log(obj, msg),
  });
  snapshotJanitor.start(config.snapshots.janitorIntervalSeconds * 1000);
  const address = await app.listen({ host: config.host, port: config.port }).catch(async (e: unknown) => {
    const why = listenFailure(e, config.host, config.port);
    await stopServices().catch(() => undefined); // the warm pool's sandboxes are already up
    throw why ? new Error(why) : e;
  });
  const url = address.replace('[::1]', 'localhost');
  // How every window of this user finds this server (the extension's userServer.ts).
  const removeRecord = writeServerRecord(config.dataDir, {
    pid: process.pid,
    url,
    version: lifecycle.info().version,
    build: lifecycle.build,
    started_at: lifecycle.startedAt,
    api_key_file: apiKey.from === 'env' ? '' : apiKey.from,
  });
  process.on('exit', removeRecord);
  // A second signal (Ctrl-C again) stops waiting for the requests under way; the sandboxes are still stopped.
  // Handled before the ready line: a launcher that stops the server as soon as it reads the line gets a clean stop.
  const onSignal = () => (stopping ? drain.cut() : void shutdown());
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // The one line launchers (the extension, the tests) wait for.
  process.stdout.write(formatReadyLine({ url, api_key_from: apiKey.from, data_dir: config.dataDir }));
}

/** The version in the package.json beside the bundle (the extension's own, or the repository's under tsx). */
function packageVersion(): string {
  try {
    return String(JSON.parse(readFileSync(resolve(__dirname, '../../package.json'), 'utf8')).version);
  } catch {
    return '0.0.0';
  }
}

main().catch((e) => {
  const failure = startupFailure(e, (err) => err instanceof DataDirInUse);
  process.stderr.write(failure.line);
  // The stack is for whoever debugs the server, not for the one line a launcher shows.
  if (process.env.ASTRAFORGE_LOG_LEVEL === 'debug' && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(failure.exitCode);
});
