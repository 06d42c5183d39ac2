// The server's run services in the test's own process, over real bubblewrap
// sandboxes and a real data folder: for what the HTTP API does not show
// (how many runs are active, what the DeepAgent's sandbox backend answers).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandAgent } from '../../server/src/agents/commandAgent';
import { loadConfig } from '../../server/src/config';
import { RunTokens } from '../../server/src/gateway/runTokens';
import { instanceIdOf } from '../../server/src/instanceId';
import { RunService } from '../../server/src/runs/runService';
import { BwrapProvider } from '../../server/src/sandboxes/bwrap/bwrapProvider';
import { sandboxRootFor } from '../../server/src/sandboxes/host/sandboxRoot';
import { SessionManager } from '../../server/src/sessions/sessionManager';
import { SessionRecords } from '../../server/src/sessions/sessionRecords';
import { WorkspaceStore } from '../../server/src/sessions/workspaceStore';
import { SnapshotStore } from '../../server/src/snapshots/snapshotStore';
import { FileRunStore } from '../../server/src/store/fileRunStore';

export interface InProcessRuns {
  sessions: SessionManager;
  runs: RunService;
  store: FileRunStore;
  /** Uploads a folder as a snapshot; its id. */
  snapshot(dir: string): Promise<string>;
  stop(): Promise<void>;
}

const silent = () => undefined;

export async function startInProcessRuns(opts: { maxConcurrentRuns: number }): Promise<InProcessRuns> {
  const dataDir = mkdtempSync(join(tmpdir(), 'af-inproc-'));
  const config = loadConfig(['--data-dir', dataDir]);
  const sandboxRoot = sandboxRootFor(dataDir);
  const instanceId = instanceIdOf(dataDir);
  const sessions = new SessionManager({
    instanceId,
    provider: new BwrapProvider({
      instanceId,
      bwrapPath: config.bwrapPath,
      runnerBinary: join(__dirname, '../../server/dist/af-runner'),
      stateDir: join(sandboxRoot, 'sandbox'),
      images: {},
    }),
    records: new SessionRecords(join(dataDir, 'sessions')),
    workspaces: new WorkspaceStore(sandboxRoot),
    limits: config.limits,
    defaultTtlSeconds: 60,
    defaultTimeoutMs: 30_000,
    maxOutputBytes: config.maxOutputBytes,
    maxSessions: 10,
    tombstoneSeconds: 60,
    log: silent,
  });
  const snapshots = new SnapshotStore(join(dataDir, 'snapshots'), config.snapshots);
  const store = new FileRunStore(join(dataDir, 'runs'));
  const runs = new RunService({
    store,
    sessions,
    snapshots,
    agents: [new CommandAgent()],
    maxConcurrentRuns: opts.maxConcurrentRuns,
    maxRunSeconds: 60,
    sessionTtlSeconds: 60,
    maxLogOutputBytes: config.runs.maxLogOutputBytes,
    log: silent,
    gateway: { tokens: new RunTokens(), socketPath: join(sandboxRoot, 'gateway', 'model.sock'), relayPort: 4141, model: 'none' },
  });
  await sessions.start();
  runs.start();
  return {
    sessions,
    runs,
    store,
    async snapshot(dir) {
      const tar = spawn('tar', ['-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      return (await snapshots.ingest(tar.stdout, { gzip: false })).snapshot_id;
    },
    async stop() {
      await runs.stop();
      await sessions.stop();
      rmSync(dataDir, { recursive: true, force: true });
      if (sandboxRoot !== dataDir) rmSync(sandboxRoot, { recursive: true, force: true });
    },
  };
}
