// Server settings: command-line flags over ASTRAFORGE_* variables over
// <data-dir>/config.json over safe defaults.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';

const MiB = 1024 * 1024;

export const ServerConfig = z.object({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8787),
  dataDir: z.string(),
  sandbox: z.enum(['bwrap', 'docker']).default('bwrap'),
  bwrapPath: z.string().default('/usr/bin/bwrap'),
  /** The docker provider: its engine, default image, and hardening (every default is the safe one). */
  docker: z
    .object({
      host: z.string().optional(),
      defaultImage: z.string().default('astraforge-sandbox:bookworm'),
      readOnlyRootfs: z.boolean().optional(),
      capDrop: z.array(z.string()).optional(),
      securityOpt: z.array(z.string()).optional(),
      networkMode: z.string().optional(),
    })
    .prefault({}),
  images: z.record(z.string(), z.string()).default({}),
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
      /** All snapshots together; beyond it the least recently used go first (never one an active run needs). */
      maxTotalBytes: z
        .number()
        .int()
        .positive()
        .default(20 * 1024 * MiB),
      janitorIntervalSeconds: z.number().positive().default(600),
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

export function defaultDataDir(): string {
  return process.env.ASTRAFORGE_DATA_DIR ?? join(homedir(), '.astraforge');
}

export function loadConfig(argv: string[]): ServerConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      sandbox: { type: 'string' },
    },
    strict: true,
  });
  const dataDir = resolve(values['data-dir'] ?? defaultDataDir());
  const file = join(dataDir, 'config.json');
  const fromFile: Record<string, unknown> = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  const fromEnv: Record<string, unknown> = {};
  if (process.env.ASTRAFORGE_HOST) fromEnv.host = process.env.ASTRAFORGE_HOST;
  if (process.env.ASTRAFORGE_PORT) fromEnv.port = Number(process.env.ASTRAFORGE_PORT);
  const fromFlags: Record<string, unknown> = {};
  if (values.host) fromFlags.host = values.host;
  if (values.port) fromFlags.port = Number(values.port);
  if (values.sandbox) fromFlags.sandbox = values.sandbox;
  const model = { ...((fromFile.model as Record<string, unknown> | undefined) ?? {}) };
  if (process.env.ASTRAFORGE_MODEL_BASE_URL) model.baseUrl = process.env.ASTRAFORGE_MODEL_BASE_URL;
  if (process.env.ASTRAFORGE_MODEL_API_KEY) model.apiKey = process.env.ASTRAFORGE_MODEL_API_KEY;
  if (process.env.ASTRAFORGE_MODEL) model.model = process.env.ASTRAFORGE_MODEL;
  return ServerConfig.parse({ ...fromFile, ...fromEnv, ...fromFlags, model, dataDir });
}
