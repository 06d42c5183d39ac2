// Which environment a workspace asks for: `.astraforge/environment.json`,
// else `.devcontainer/devcontainer.json` (its image and its create commands
// as the setup), else none. Read from the snapshot's unpacked tree, regular
// files only (a symlink there could point anywhere on the server).
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, constants as fsConstants } from 'node:fs';
import {
  DEFAULT_AGENT_NETWORK,
  DEFAULT_SETUP_NETWORK,
  DEFAULT_SETUP_TIMEOUT_SECONDS,
  EnvironmentFile,
  LOCKFILE_NAMES,
  REQUIREMENTS_PATTERN,
  type EnvironmentDefinition,
} from '@astraforge/contract/environment';
import { resolveInLayers } from '../sessions/workspaceLayers';

export const ENVIRONMENT_FILE = '.astraforge/environment.json';
export const DEVCONTAINER_FILE = '.devcontainer/devcontainer.json';
const MAX_DEFINITION_BYTES = 256 * 1024;

/** The workspace's environment file is there but says something we cannot use: the run fails with why. */
export class EnvironmentFileError extends Error {}

/** What the definition needs of a snapshot: its files' hashes and a way to read a small one. */
export interface SnapshotFiles {
  /** Every regular file's path and content hash. */
  hashes: ReadonlyMap<string, string>;
  read(path: string): Buffer | undefined;
}

/** Reads regular files of a snapshot's layers (bottom first), refusing symlinks anywhere on the way. */
export function treeFiles(lowers: readonly string[], manifest: ReadonlyMap<string, { sha256: string; type: string }>): SnapshotFiles {
  const hashes = new Map<string, string>();
  for (const [path, e] of manifest) if (e.type === 'file') hashes.set(path, e.sha256);
  return {
    hashes,
    read: (path) => {
      // Only a path the manifest lists as a regular file: none of its folders can be a symlink then.
      if (!hashes.has(path)) return undefined;
      const host = resolveInLayers(lowers, path);
      if (!host) return undefined;
      let fd: number;
      try {
        fd = openSync(host, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
      } catch {
        return undefined;
      }
      try {
        const st = fstatSync(fd);
        if (!st.isFile()) return undefined;
        const size = st.size;
        if (size > MAX_DEFINITION_BYTES) throw new EnvironmentFileError(`${path} is larger than ${MAX_DEFINITION_BYTES} bytes`);
        const buf = Buffer.alloc(size);
        readSync(fd, buf, 0, size, 0);
        return buf;
      } finally {
        closeSync(fd);
      }
    },
  };
}

export function resolveEnvironment(files: SnapshotFiles): EnvironmentDefinition | undefined {
  const own = files.read(ENVIRONMENT_FILE);
  if (own) return fromEnvironmentFile(parseJsonc(own, ENVIRONMENT_FILE), files);
  const dev = files.read(DEVCONTAINER_FILE);
  if (dev) return fromDevcontainer(parseJsonc(dev, DEVCONTAINER_FILE), files);
  return undefined;
}

/** The environment's key: its setup, image, variables and the key files' contents. */
export function environmentKey(def: EnvironmentDefinition, files: SnapshotFiles): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: 1, setup: def.setup ?? null, image: def.image ?? null, env: Object.entries(def.env).sort() }));
  for (const path of def.keyFiles) h.update(`\0${path}\0${files.hashes.get(path) ?? 'absent'}`);
  return h.digest('hex').slice(0, 32);
}

function fromEnvironmentFile(json: unknown, files: SnapshotFiles): EnvironmentDefinition {
  const parsed = EnvironmentFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new EnvironmentFileError(`${ENVIRONMENT_FILE}: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  const f = parsed.data;
  return {
    source: 'environment.json',
    ...(f.setup ? { setup: f.setup } : {}),
    setupTimeoutSeconds: f.setup_timeout_seconds ?? DEFAULT_SETUP_TIMEOUT_SECONDS,
    keyFiles: [...(f.cache_key_files ?? lockfilesIn(files))].sort(),
    network: { setup: f.network?.setup ?? DEFAULT_SETUP_NETWORK, agent: f.network?.agent ?? DEFAULT_AGENT_NETWORK },
    env: f.env ?? {},
    ...(f.image ? { image: f.image } : {}),
  };
}

type DevCommand = string | string[] | Record<string, string | string[]>;

/** devcontainer.json's lifecycle commands that prepare the workspace, in the order a dev container runs them. */
const DEVCONTAINER_COMMANDS = ['onCreateCommand', 'updateContentCommand', 'postCreateCommand'] as const;

function fromDevcontainer(json: unknown, files: SnapshotFiles): EnvironmentDefinition {
  if (typeof json !== 'object' || json === null) throw new EnvironmentFileError(`${DEVCONTAINER_FILE} is not a JSON object`);
  const d = json as Record<string, unknown>;
  const steps = DEVCONTAINER_COMMANDS.map((k) => d[k] as DevCommand | undefined)
    .filter((c): c is DevCommand => c !== undefined)
    .map(commandText)
    .filter((c) => c.length > 0);
  const env: Record<string, string> = {};
  for (const k of ['containerEnv', 'remoteEnv']) {
    const vars = d[k];
    if (typeof vars !== 'object' || vars === null) continue;
    for (const [name, value] of Object.entries(vars)) {
      // ${localEnv:...} and friends name the user's machine: nothing the server can fill in.
      if (typeof value === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !value.includes('${')) env[name] = value;
    }
  }
  return {
    source: 'devcontainer.json',
    ...(steps.length ? { setup: steps.join(' && ') } : {}),
    setupTimeoutSeconds: DEFAULT_SETUP_TIMEOUT_SECONDS,
    keyFiles: lockfilesIn(files),
    network: { setup: DEFAULT_SETUP_NETWORK, agent: DEFAULT_AGENT_NETWORK },
    env,
    ...(typeof d.image === 'string' && d.image ? { image: d.image } : {}),
  };
}

/** A devcontainer command: a shell string, an argument list, or named commands (run one after another here). */
function commandText(c: DevCommand): string {
  if (typeof c === 'string') return c.trim();
  if (Array.isArray(c)) return c.map(shellWord).join(' ');
  return Object.values(c)
    .map((v) => `(${commandText(v)})`)
    .join(' && ');
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The lockfiles anywhere in the snapshot but inside installed dependencies. */
export function lockfilesIn(files: SnapshotFiles): string[] {
  const out: string[] = [];
  for (const path of files.hashes.keys()) {
    if (/(^|\/)(node_modules|\.venv|vendor|target)\//.test(path)) continue;
    const name = path.slice(path.lastIndexOf('/') + 1);
    if (LOCKFILE_NAMES.includes(name) || REQUIREMENTS_PATTERN.test(name)) out.push(path);
  }
  return out.sort();
}

/** JSON with comments and trailing commas, as devcontainer.json (and VS Code's JSON files) allow. */
export function parseJsonc(buf: Buffer, name: string): unknown {
  const text = buf.toString('utf8');
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
      out += text.slice(start, i + 1);
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? text.length : end + 1;
    } else out += c;
  }
  try {
    return JSON.parse(out.replace(/,(\s*[}\]])/g, '$1'));
  } catch (e) {
    throw new EnvironmentFileError(`${name} is not valid JSON: ${(e as Error).message}`);
  }
}
