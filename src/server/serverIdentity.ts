// What a window asks of the user's shared server: its code (the extension's
// version and the server bundle's modification time) and the settings it
// was started with (the model's base URL, key and name, the Codex binary),
// since the server takes those at start. Both go into the build string the
// launcher compares (userServer); a server of another build is replaced.
//
// Windows must not take turns replacing each other's server, so a window
// adopts the running one when its code is the same or newer (an old window
// not yet reloaded after an update uses the new server) and its settings
// differ only because this window did not just change them (two windows
// can see different environments). Only a settings change made now, or a
// server older than this window's code, asks for a new server.
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';

export interface ServerSettings {
  model: { baseUrl?: string; apiKey?: string; name?: string };
  codexBinary?: string;
}

/** `<version>+<mtime of main.js>`: the same form the server gives itself when told nothing. */
export function codeBuild(version: string, mainJs: string): string {
  let mtime = 0;
  try {
    mtime = Math.round(statSync(mainJs).mtimeMs);
  } catch {
    // A missing bundle is reported by the launcher.
  }
  return `${version}+${mtime}`;
}

/**
 * A short digest of the settings. The model key is random and long, and the
 * record that holds the digest is the user's own (0600): a digest of it
 * tells nobody anything they could use.
 */
export function settingsDigest(settings: ServerSettings): string {
  const { baseUrl = '', apiKey = '', name = '' } = settings.model;
  const canonical = JSON.stringify([baseUrl, apiKey, name, settings.codexBinary ?? '']);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

export function serverBuild(code: string, settings: ServerSettings): string {
  return `${code}#${settingsDigest(settings)}`;
}

/** The code part of a build string (everything before the settings digest). */
export function codeOf(build: string): string {
  const hash = build.indexOf('#');
  return hash < 0 ? build : build.slice(0, hash);
}

/** Whether code build `a` is newer than `b`: by version, then by the bundle's time; false when either does not read. */
export function isNewerCode(a: string, b: string): boolean {
  const pa = parseCode(a);
  const pb = parseCode(b);
  if (!pa || !pb) return false;
  for (let i = 0; i < Math.max(pa.version.length, pb.version.length); i++) {
    const d = (pa.version[i] ?? 0) - (pb.version[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return pa.mtime > pb.mtime;
}

function parseCode(code: string): { version: number[]; mtime: number } | undefined {
  const m = /^(\d+(?:\.\d+)*)[^+]*\+(\d+)$/.exec(code);
  return m ? { version: m[1].split('.').map(Number), mtime: Number(m[2]) } : undefined;
}

/**
 * The build this window asks for: its own, or the running server's when
 * that one is to be adopted (see the header).
 */
export function buildToAsk(ours: string, running: string | undefined, settingsChangedHere: boolean): string {
  if (running === undefined || running === ours) return ours;
  const [ourCode, theirCode] = [codeOf(ours), codeOf(running)];
  if (theirCode === ourCode) return settingsChangedHere ? ours : running;
  return isNewerCode(theirCode, ourCode) ? running : ours;
}
