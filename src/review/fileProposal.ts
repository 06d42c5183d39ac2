// What applying one file of a run's diff would do to the workspace as it is
// now. The agent worked on the snapshot; the user may have edited, deleted
// or already applied the file since. Compared through the snapshot's hash:
// untouched files take the agent's version, edited ones are merged three
// ways (through the same merge an accept writes with, hunks.ts), and nothing
// the user wrote is ever dropped. Pure.
import { createHash } from 'node:crypto';
import { applyPatch } from 'diff';
import type { DiffFile } from '@astraforge/contract/runApi';
import { pendingHunks } from './hunks';
import { isProbablyBinary, splitLines } from './lineText';
import { sensitiveChangeReason } from './sensitivePaths';

export type ProposalKind =
  | 'write' // the agent's version, or its changes merged cleanly with the user's edits
  | 'conflict' // its changes merged with the user's edits, conflicts between markers for the user to resolve
  | 'delete'
  | 'already' // the workspace already has what the agent proposes
  | 'choose' // the user must decide (`reason` says why); nothing is written for them
  | 'refused'; // its path is no safe target in the folder (`reason` says why); never read nor written

export interface FileProposal {
  path: string;
  oldPath?: string;
  status: DiffFile['status'];
  binary: boolean;
  kind: ProposalKind;
  /** A binary file's new bytes, for write. */
  content?: Buffer;
  /** The agent's version (text), for showing in the diff editor and merging. */
  proposedText?: string;
  /** The snapshot's version (text), the base the live hunks are computed from. */
  baseText?: string;
  /** How many of the agent's changes overlap the user's, when the review opened. */
  conflicts: number;
  /** Lines added and removed by the agent's patch. */
  added: number;
  removed: number;
  /** Set when the local file differs from the snapshot. */
  localEdited: boolean;
  /** For `choose`: why the user must decide, and what taking the agent's side would do. */
  reason?: string;
  agentSide?: { action: 'write'; content: Buffer } | { action: 'delete' };
  /** Why writing this file can run code or move secrets (see sensitivePaths); undefined for an ordinary file. */
  sensitive?: string;
}

export interface FileSides {
  /** The file in the workspace now (at old_path for renames); undefined when it is not there. */
  local: Buffer | undefined;
  /** The file as the snapshot had it, when it had one and the caller fetched it. */
  base?: Buffer;
  /** A binary file as the agent left it, when the run's sandbox still had it. */
  proposed?: Buffer;
}

// Opening a review asks twice of each local file (needsBase, then proposeFile): hashed once.
const hashes = new WeakMap<Uint8Array, string>();

export function sha256(bytes: Uint8Array): string {
  let hash = hashes.get(bytes);
  if (hash === undefined) hashes.set(bytes, (hash = createHash('sha256').update(bytes).digest('hex')));
  return hash;
}

function patchCounts(patch: string): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const line of patch.split('\n')) {
    if (line.startsWith('+') && !line.startsWith('+++')) added++;
    else if (line.startsWith('-') && !line.startsWith('---')) removed++;
  }
  return { added, removed };
}

/** Whether the caller must fetch the snapshot's version of this file to decide. */
export function needsBase(file: DiffFile, local: Buffer | undefined): boolean {
  if (file.status === 'added' || file.binary) return false;
  return local === undefined || file.base_sha256 === undefined || sha256(local) !== file.base_sha256;
}

/** The agent's version of a text file: its patch applied to the snapshot's version. */
export function proposedText(file: DiffFile, base: string): string {
  if (!/^@@ /m.test(file.patch)) return base; // a rename or mode change without content change
  const out = applyPatch(base, file.patch);
  if (out === false) throw new Error(`the agent's patch for ${file.path} does not apply to the snapshot's version`);
  return out;
}

export function proposeFile(file: DiffFile, sides: FileSides): FileProposal {
  const counts = patchCounts(file.patch);
  const common = {
    path: file.path,
    oldPath: file.old_path,
    status: file.status,
    binary: file.binary,
    conflicts: 0,
    ...counts,
    sensitive: sensitiveChangeReason(file.path, file.old_path),
  };
  const local = sides.local;
  const localEdited = local !== undefined && file.base_sha256 !== undefined && sha256(local) !== file.base_sha256;

  if (file.binary) {
    if (file.status === 'deleted') {
      if (local === undefined) return { ...common, kind: 'already', localEdited };
      return localEdited
        ? choose('you changed this binary file; the agent deleted it', { action: 'delete' })
        : { ...common, kind: 'delete', localEdited };
    }
    const proposed = sides.proposed;
    if (!proposed) return choose("the run's sandbox has ended, and with it the agent's version of this binary file");
    if (local !== undefined && local.equals(proposed)) return { ...common, kind: 'already', localEdited };
    // A binary file cannot be merged: the agent's bytes replace an untouched file, never one the user changed.
    if (localEdited || (file.status === 'added' && local !== undefined))
      return choose('you changed this binary file too', { action: 'write', content: proposed });
    return { ...common, kind: 'write', content: proposed, localEdited };
  }

  if (file.status === 'deleted') {
    if (local === undefined) return { ...common, kind: 'already', localEdited: false };
    if (localEdited) return choose('you edited this file; the agent deleted it', { action: 'delete' });
    return { ...common, kind: 'delete', localEdited: false };
  }

  if (file.status === 'added') {
    const proposed = proposedText(file, '');
    if (local === undefined) return { ...common, kind: 'write', proposedText: proposed, baseText: '', localEdited: false };
    if (sameText(local.toString('utf8'), proposed))
      return { ...common, kind: 'already', proposedText: proposed, baseText: '', localEdited: false };
    return merged(common, '', local.toString('utf8'), proposed);
  }

  // modified or renamed
  const agentVersion = () =>
    sides.base ? { action: 'write' as const, content: Buffer.from(proposedText(file, sides.base.toString('utf8'))) } : undefined;
  if (local === undefined)
    return choose(
      file.status === 'renamed'
        ? `${file.old_path ?? file.path} is gone from the workspace`
        : 'you deleted this file; the agent changed it',
      agentVersion(),
    );
  if (isProbablyBinary(local)) return choose('the local file is binary now', agentVersion());
  const base = localEdited || file.base_sha256 === undefined ? sides.base : local;
  if (base === undefined) return choose("the snapshot's version of the file is not available");
  const baseText = base.toString('utf8');
  const proposed = proposedText(file, baseText);
  if (!localEdited) return { ...common, kind: 'write', proposedText: proposed, baseText, localEdited: false };
  if (sameText(local.toString('utf8'), proposed))
    return { ...common, kind: 'already', proposedText: proposed, baseText, localEdited: true };
  return merged(common, baseText, local.toString('utf8'), proposed);

  function choose(reason: string, agentSide?: FileProposal['agentSide']): FileProposal {
    return { ...common, kind: 'choose', localEdited, reason, agentSide };
  }
}

/** A file whose path (or old path) is no safe target: listed with the reason, nothing of it read or written. */
export function refusedFile(file: DiffFile, reason: string): FileProposal {
  const counts = patchCounts(file.patch);
  return {
    path: file.path,
    oldPath: file.old_path,
    status: file.status,
    binary: file.binary,
    conflicts: 0,
    ...counts,
    kind: 'refused',
    localEdited: false,
    reason,
    sensitive: sensitiveChangeReason(file.path, file.old_path),
  };
}

/** A text file the user edited too: what is left of the agent's changes over it, and how many conflict. */
function merged(common: Omit<FileProposal, 'kind' | 'localEdited'>, base: string, local: string, proposed: string): FileProposal {
  const hunks = pendingHunks(base, local, proposed);
  const conflicts = hunks.filter((h) => h.conflict).length;
  const kind = hunks.length === 0 ? 'already' : conflicts ? 'conflict' : 'write';
  return { ...common, kind, proposedText: proposed, baseText: base, conflicts, localEdited: true };
}

/** Equal but for line endings, a BOM or a final newline's line ending style. */
function sameText(a: string, b: string): boolean {
  const x = splitLines(a);
  const y = splitLines(b);
  return x.finalNewline === y.finalNewline && x.lines.length === y.lines.length && x.lines.every((l, i) => l === y.lines[i]);
}
