// Server settings: command-line flags over ASTRAFORGE_* variables over
// <data-dir>/config.json over safe defaults. The one place the server reads
// its environment; the rest is handed what it needs from here.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { AlertsConfig } from './alerts/alertsConfig';
import { NetworkConfig } from './egress/egressConfig';
import { LOG_FORMATS, parseCommandLine, SERVER_SETTINGS, settingValue } from './cli/serverSettings';
import { UsageError } from './cli/startupErrors';

const MiB = 1024 * 1024;

export const ServerConfig = z.object({
  /** The API's key, from ASTRAFORGE_API_KEY only; unset: the key file in the data folder (apiKey.ts). */
  apiKey: z.string().optional(),
  /** af-runner to use instead of the bundled one, from ASTRAFORGE_RUNNER_BINARY only (tests put a compromised runner there). */
  runnerBinary: z.string().optional(),
  logLevel: z.string().default('info'),
  /** auto: pretty when stdout is a terminal, JSON otherwise. */
  logFormat: z.enum(LOG_FORMATS).default('auto'),
  /** On SIGTERM or SIGINT, how long requests under way may take before they are cut and the sandboxes stopped. */
  drainSeconds: z.number().int().min(0).default(10),
  /** A codex binary to use instead of the one @openai/codex installed (ASTRAFORGE_CODEX_BINARY, or config.json). */
  codexBinary: z.string().optional(),
  /** Exit after this many minutes with no active run and no open request (the extension's per-user server); 0 never. */
  idleExitMinutes: z.number().min(0).default(0),
  /** Identifies the server's bundle (ASTRAFORGE_BUILD, set by the extension that starts it); default: its version and the bundle's time. */
  build: z.string().optional(),
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8787),
  dataDir: z.string(),
  sandbox: z.enum(['bwrap', 'docker', 'kubernetes']).default('bwrap'),
  bwrapPath: z.string().default('/usr/bin/bwrap'),
  /** The docker provider: its engine, default image, and hardening (every default is the safe one). */
  docker: z
    .object({
      /** The engine's address (unix:// or tcp://); config.json's, else DOCKER_HOST; unset: the default socket. */
      host: z.string().optional(),
      defaultImage: z.string().default('astraforge-sandbox:bookworm'),
      readOnlyRootfs: z.boolean().optional(),
      capDrop: z.array(z.string()).optional(),
      securityOpt: z.array(z.string()).optional(),
      networkMode: z.string().optional(),
    })
    .prefault({}),
  /** The kubernetes provider: agent-sandbox SandboxClaims from warm pools (server/deploy/kubernetes has the templates). */
  kubernetes: z
    .object({
      /** A kubeconfig file; unset: KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
      kubeconfig: z.string().optional(),
      /** Unset: the kubeconfig context's namespace, or the service account's. */
      namespace: z.string().optional(),
      /** The SandboxWarmPool of image "default". */
      warmPool: z.string().default('astraforge-runc'),
      /** More image names, each a warm pool (the gVisor and Kata tiers). */
      pools: z.record(z.string(), z.string()).default({ gvisor: 'astraforge-gvisor', kata: 'astraforge-kata' }),
      /** af-runner's port in the pod (the templates' --listen). */
      runnerPort: z.number().int().min(1).max(65535).default(7070),
      readyTimeoutSeconds: z.number().int().positive().default(120),
      /** A claim expires this long after its server stops renewing it (a crash). */
      claimLeaseSeconds: z.number().int().min(60).default(900),
      /** Where pods reach the model gateway, on the server's pod-network address (0: any free port; a deployment fixes one for its NetworkPolicy). */
      gatewayBridgePort: z.number().int().min(0).max(65535).default(0),
      /** agent-sandbox's sandbox router: when set, runners are reached through it (X-Sandbox-ID/-Namespace/-Port) instead of at pod IPs. */
      router: z
        .object({
          /** The router's Service URL, e.g. http://sandbox-router-svc.agent-sandbox-system.svc:8080. */
          url: z.url({ protocol: /^https?$/ }),
          /** Its ROUTER_AUTH_TOKEN, sent as a bearer token. */
          token: z.string().min(1).optional(),
          /** The pod port it connects to: the runtime API's, which bridges to af-runner. */
          port: z.number().int().min(1).max(65535).optional(),
        })
        .optional(),
    })
    .prefault({}),
  images: z.record(z.string(), z.string()).default({}),
  /** bubblewrap sandboxes kept started for new sessions (0 turns the warm pool off; it needs a root server). */
  pool: z.object({ size: z.number().int().min(0).max(64).default(2) }).prefault({}),
  defaultTtlSeconds: z.number().int().positive().default(1800),
  defaultTimeoutMs: z.number().int().positive().default(120_000),
  maxOutputBytes: z
    .number()
    .int()
    .positive()
    .default(5 * MiB),
  maxFileBytes: z
    .number()
    .int()
    .positive()
    .default(64 * MiB),
  defaultReadBytes: z
    .number()
    .int()
    .positive()
    .default(10 * MiB),
  maxSessions: z.number().int().positive().default(200),
  tombstoneSeconds: z.number().int().nonnegative().default(3600),
  /** Comment lines on idle SSE streams, so proxies keep them open. */
  sseHeartbeatMs: z.number().int().positive().default(15_000),
  runs: z
    .object({
      maxConcurrent: z.number().int().positive().default(4),
      maxSeconds: z.number().int().positive().default(3600),
      sessionTtlSeconds: z.number().int().positive().default(1800),
      maxLogOutputBytes: z
        .number()
        .int()
        .positive()
        .default(20 * MiB),
    })
    .prefault({}),
  /** Uploaded workspace snapshots: limits on what they unpack to, and how long they are kept. */
  snapshots: z
    .object({
      /** The upload as received (compressed, for gzip). */
      maxArchiveBytes: z
        .number()
        .int()
        .positive()
        .default(1024 * MiB),
      /** The files' contents once unpacked, summed (the tar framing around them is held to that too). */
      maxUnpackedBytes: z
        .number()
        .int()
        .positive()
        .default(1024 * MiB),
      /** Entries of any kind: files, folders, symlinks. */
      maxFiles: z.number().int().positive().default(100_000),
      maxFileBytes: z
        .number()
        .int()
        .positive()
        .default(256 * MiB),
      /** A snapshot runs reference is kept this long after the last of them changed. */
      retentionDays: z.number().nonnegative().default(7),
      /** A snapshot no run references is kept this long after its upload or last use. */
      unreferencedMinutes: z.number().nonnegative().default(60),
      /** All snapshots together with the layers made from them and the environments; beyond it the layers go first, then snapshots, least recently used first (never one an active run needs). */
      maxTotalBytes: z
        .number()
        .int()
        .positive()
        .default(20 * 1024 * MiB),
      janitorIntervalSeconds: z.number().positive().default(600),
    })
    .prefault({}),
  /** Run workspaces in layers (snapshot, environment, the run's own): auto finds overlayfs, then fuse-overlayfs, then copies. */
  workspaceLayers: z.enum(['auto', 'overlay', 'fuse-overlayfs', 'copy']).default('auto'),
  /** Project environments (.astraforge/environment.json, devcontainer.json): built ones are kept up to this size, least recently used out first. */
  environments: z
    .object({
      maxBytes: z
        .number()
        .int()
        .positive()
        .default(10 * 1024 * MiB),
    })
    .prefault({}),
  /** The model provider the gateway forwards to; its key never leaves the server. */
  model: z
    .object({
      /** Any OpenAI-compatible base URL ending in /v1 (OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio). */
      baseUrl: z.url().optional(),
      apiKey: z.string().optional(),
      model: z.string().min(1).default('gpt-5-codex'),
      /** A provider stream that sends nothing for this long is dropped. */
      idleTimeoutMs: z.number().int().positive().default(120_000),
    })
    .prefault({}),
  agents: z
    .object({
      /** How often Codex retries a model stream that broke, before it gives up the turn. */
      codexStreamRetries: z.number().int().min(0).max(10).default(2),
    })
    .prefault({}),
  /** Sentry and GlitchTip webhooks that start error runs, and where their fixes go (alerts/alertsConfig.ts). */
  alerts: AlertsConfig,
  /** Egress for runs and sessions that ask for it: the most any may get, name pins, private endpoints, limits (egress/egressConfig.ts). */
  network: NetworkConfig,
  limits: z
    .object({
      memoryBytes: z
        .number()
        .int()
        .positive()
        .default(1024 * MiB),
      pids: z.number().int().positive().default(256),
      cpus: z.number().positive().default(1),
      fileSizeBytes: z
        .number()
        .int()
        .positive()
        .default(1024 * MiB),
      cpuSecondsPerProcess: z.number().int().positive().default(3600),
      addressSpaceBytes: z
        .number()
        .int()
        .positive()
        .default(16 * 1024 * MiB),
      openFiles: z.number().int().positive().default(4096),
      diskQuotaBytes: z
        .number()
        .int()
        .positive()
        .default(2048 * MiB),
      tmpBytes: z
        .number()
        .int()
        .positive()
        .default(512 * MiB),
    })
    .prefault({}),
});
export type ServerConfig = z.infer<typeof ServerConfig>;

/** Flags over ASTRAFORGE_* variables over config.json over defaults, each flag and variable read through SERVER_SETTINGS. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const { flags } = parseCommandLine(argv);
  const dataDir = resolve(flags['data-dir'] ?? (env.ASTRAFORGE_DATA_DIR || join(homedir(), '.astraforge')));
  const merged = structuredClone(readConfigFile(join(dataDir, 'config.json')));
  for (const setting of SERVER_SETTINGS) {
    const path = setting.path;
    if (!path) continue;
    // Never from config.json: a key there would sit beside the key file, and the runner is a test's hook.
    if (setting.envOnly) setAt(merged, path, undefined);
    const fromEnv = setting.env ? env[setting.env]?.trim() : undefined;
    if (fromEnv && !(setting.fileWins && getAt(merged, path) !== undefined)) {
      setAt(merged, path, settingValue(setting, fromEnv, setting.env!));
    }
    const fromFlag = setting.flag ? flags[setting.flag] : undefined;
    if (fromFlag !== undefined) setAt(merged, path, settingValue(setting, fromFlag, `--${setting.flag}`));
  }
  return ServerConfig.parse({ ...merged, dataDir });
}

function readConfigFile(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`${file} is not valid JSON (${(e as Error).message})`, 'fix it or move it away');
  }
}

function getAt(obj: Record<string, unknown>, path: readonly string[]): unknown {
  let at: unknown = obj;
  for (const key of path) at = (at as Record<string, unknown> | undefined)?.[key];
  return at;
}

function setAt(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let at = obj;
  for (const key of path.slice(0, -1)) {
    if (typeof at[key] !== 'object' || at[key] === null) at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[path[path.length - 1]!] = value;
}
