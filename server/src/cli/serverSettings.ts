// The settings a server takes from its command line and its environment, in
// one table: config.ts reads flags and variables through it and --help is
// printed from it, so the two cannot drift apart. Everything else lives in
// <data-dir>/config.json (the README lists it).
import { parseArgs } from 'node:util';
import { UsageError } from './startupErrors';

type ValueKind =
  { kind: 'text' } | { kind: 'number'; min: number; max: number; whole: boolean } | { kind: 'choice'; choices: readonly string[] };

export interface ServerSetting {
  /** The command-line flag, without its dashes; absent for a setting only the environment gives. */
  flag?: string;
  /** The environment variable; absent for a flag that has none. */
  env?: string;
  /** Where the value lands in the config (a path into ServerConfig); absent for dataDir, read on its own. */
  path?: readonly string[];
  /** A placeholder for the value in --help. */
  value: string;
  what: string;
  /** The default as --help shows it when it is not ServerConfig's own default (or there is none). */
  shownDefault?: string;
  parse: ValueKind;
  /** config.json's value wins over the variable (DOCKER_HOST, as for every Docker client). */
  fileWins?: true;
  /** Never read from config.json, whatever it holds (secrets, a test's hooks). */
  envOnly?: true;
}

const text: ValueKind = { kind: 'text' };
const seconds: ValueKind = { kind: 'number', min: 0, max: 1_000_000, whole: true };
/** Fractions too: a test waits 3 s, not a minute. */
const minutes: ValueKind = { kind: 'number', min: 0, max: 1_000_000, whole: false };

export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;

export const SERVER_SETTINGS: readonly ServerSetting[] = [
  { flag: 'host', env: 'ASTRAFORGE_HOST', path: ['host'], value: 'HOST', what: 'the address the API listens on', parse: text },
  {
    flag: 'port',
    env: 'ASTRAFORGE_PORT',
    path: ['port'],
    value: 'PORT',
    what: 'the port the API listens on (0: any free port)',
    parse: { kind: 'number', min: 0, max: 65535, whole: true },
  },
  {
    flag: 'data-dir',
    env: 'ASTRAFORGE_DATA_DIR',
    value: 'DIR',
    what: 'where sessions, runs, the API key file and config.json live (one server per folder)',
    shownDefault: '~/.astraforge',
    parse: text,
  },
  {
    flag: 'sandbox',
    env: 'ASTRAFORGE_SANDBOX',
    path: ['sandbox'],
    value: 'PROVIDER',
    what: 'what runs the sandboxes: bubblewrap on this host, a Docker engine, or Kubernetes (agent-sandbox)',
    parse: { kind: 'choice', choices: ['bwrap', 'docker', 'kubernetes'] },
  },
  {
    flag: 'idle-exit-minutes',
    env: 'ASTRAFORGE_IDLE_EXIT_MINUTES',
    path: ['idleExitMinutes'],
    value: 'N',
    what: 'exit after N minutes with no active run and no open request (0: never)',
    parse: minutes,
  },
  {
    flag: 'drain-seconds',
    env: 'ASTRAFORGE_DRAIN_SECONDS',
    path: ['drainSeconds'],
    value: 'N',
    what: 'on SIGTERM or SIGINT, how long requests under way may take to finish before they are cut',
    parse: seconds,
  },
  {
    flag: 'log-level',
    env: 'ASTRAFORGE_LOG_LEVEL',
    path: ['logLevel'],
    value: 'LEVEL',
    what: 'the least severe log line written',
    parse: { kind: 'choice', choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
  },
  {
    flag: 'log-format',
    env: 'ASTRAFORGE_LOG_FORMAT',
    path: ['logFormat'],
    value: 'FORMAT',
    what: 'log lines as text for people or as JSON, one object a line (auto: pretty when stdout is a terminal)',
    parse: { kind: 'choice', choices: LOG_FORMATS },
  },
  {
    env: 'ASTRAFORGE_API_KEY',
    path: ['apiKey'],
    value: 'KEY',
    what: "the API's key (never read from config.json)",
    shownDefault: 'the key file in the data folder, made on first start',
    parse: text,
    envOnly: true,
  },
  {
    env: 'ASTRAFORGE_MODEL_BASE_URL',
    path: ['model', 'baseUrl'],
    value: 'URL',
    what: "the model provider's OpenAI-compatible base URL, ending in /v1",
    shownDefault: 'none: agents that need a model are refused',
    parse: text,
  },
  {
    env: 'ASTRAFORGE_MODEL_API_KEY',
    path: ['model', 'apiKey'],
    value: 'KEY',
    what: "the model provider's key; it never leaves the server",
    shownDefault: 'none',
    parse: text,
  },
  { env: 'ASTRAFORGE_MODEL', path: ['model', 'model'], value: 'NAME', what: 'the model agents use', parse: text },
  {
    env: 'ASTRAFORGE_CODEX_BINARY',
    path: ['codexBinary'],
    value: 'PATH',
    what: 'a codex binary to use instead of the one @openai/codex installed',
    shownDefault: "@openai/codex's",
    parse: text,
  },
  {
    env: 'DOCKER_HOST',
    path: ['docker', 'host'],
    value: 'URL',
    what: "the Docker engine's address for --sandbox docker (config.json's docker.host wins)",
    shownDefault: 'the default socket',
    parse: text,
    fileWins: true,
  },
  {
    env: 'ASTRAFORGE_KUBERNETES_NAMESPACE',
    path: ['kubernetes', 'namespace'],
    value: 'NAME',
    what: "the namespace of the sandbox claims for --sandbox kubernetes (config.json's kubernetes.namespace wins)",
    shownDefault: "the kubeconfig context's",
    parse: text,
    fileWins: true,
  },
  {
    env: 'ASTRAFORGE_KUBERNETES_ROUTER_URL',
    path: ['kubernetes', 'router', 'url'],
    value: 'URL',
    what: "agent-sandbox's sandbox router, to reach pods through it (config.json's kubernetes.router wins)",
    shownDefault: 'pod IPs, directly',
    parse: text,
    fileWins: true,
  },
  {
    env: 'ASTRAFORGE_KUBERNETES_ROUTER_TOKEN',
    path: ['kubernetes', 'router', 'token'],
    value: 'TOKEN',
    what: "the router's ROUTER_AUTH_TOKEN (config.json's kubernetes.router wins)",
    shownDefault: 'none',
    parse: text,
    fileWins: true,
  },
  {
    env: 'ASTRAFORGE_BUILD',
    path: ['build'],
    value: 'ID',
    what: "identifies the server's bundle to the windows that share it (the extension sets it)",
    shownDefault: "the version and the bundle's time",
    parse: text,
    envOnly: true,
  },
  {
    env: 'ASTRAFORGE_RUNNER_BINARY',
    path: ['runnerBinary'],
    value: 'PATH',
    what: 'an af-runner to use instead of the bundled one (for tests)',
    shownDefault: 'the bundled one',
    parse: text,
    envOnly: true,
  },
];

/** Flags that answer and exit instead of starting a server. */
export const ANSWER_FLAGS = {
  help: 'print this help and exit',
  version: "print the server's version and exit",
} as const;

export interface CommandLine {
  help: boolean;
  version: boolean;
  /** The flags given, by name, as typed. */
  flags: Record<string, string>;
}

/** Reads the command line; a flag that is not in the table, or lacks its value, is a UsageError. */
export function parseCommandLine(argv: string[]): CommandLine {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  };
  for (const s of SERVER_SETTINGS) if (s.flag) options[s.flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError(usageMessage(e as Error));
  }
  const flags: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) if (typeof value === 'string') flags[name] = value;
  return { help: values.help === true, version: values.version === true, flags };
}

/** parseArgs's own messages are long and name the API; this says what was wrong in the user's terms. */
function usageMessage(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  const option = /'(-[^'\s,]+)/.exec(e.message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown flag ${option ?? ''}`.trim();
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument ${/'([^']*)'/.exec(e.message)?.[1] ?? ''}`.trim();
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return `${option ?? 'a flag'} needs a value`;
  return e.message;
}

/** A flag's or variable's text as the config's value; a value it cannot take is a UsageError naming where it came from. */
export function settingValue(setting: ServerSetting, raw: string, from: string): string | number {
  const kind = setting.parse;
  if (kind.kind === 'text') return raw;
  if (kind.kind === 'choice') {
    if (kind.choices.includes(raw)) return raw;
    throw new UsageError(`${from} must be one of ${kind.choices.join(', ')}, not '${raw}'`);
  }
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || (kind.whole && !Number.isInteger(n)) || n < kind.min || n > kind.max) {
    throw new UsageError(`${from} must be a ${kind.whole ? 'whole ' : ''}number from ${kind.min} to ${kind.max}, not '${raw}'`);
  }
  return n;
}
