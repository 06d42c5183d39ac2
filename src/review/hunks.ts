// The agent's changes to one file as hunks over the file as the user has it
// right now, and what accepting them writes. Recomputed from the three-way
// merge (snapshot, live text, agent's version) on every look, so hunks
// follow the user's edits: lines the user changed since the snapshot are
// never in a clean hunk, and where the user and the agent both changed lines
// the hunk is a conflict that shows both. Accepting one hunk (a CodeLens)
// and accepting the whole file (mergeFile) write through the same
// replacements, so what the review shows is what it writes.
import { createHash } from 'node:crypto';
import { detectEol, splitLines, type Eol } from './lineText';
import { mergeThreeWay } from './threeWayMerge';

export interface Hunk {
  /** Stable while the hunk's own lines are unchanged: what a rejection remembers. */
  key: string;
  /** Where the hunk sits in the live text (0-based line) and how many of its lines it replaces. */
  startLine: number;
  lineCount: number;
  /** Where its new lines sit in the agent's version (the other side of the diff editor). */
  proposedStartLine: number;
  /** The live lines it replaces, the snapshot's lines there, and the agent's lines that replace them. */
  localLines: string[];
  baseLines: string[];
  newLines: string[];
  /** The user changed these lines too: accepting takes the agent's, rejecting keeps the user's. */
  conflict: boolean;
}

export function hunkKey(baseLines: readonly string[], newLines: readonly string[]): string {
  return createHash('sha256')
    .update(JSON.stringify([baseLines, newLines]))
    .digest('hex')
    .slice(0, 16);
}

/** The agent's changes not yet in `local` and not rejected, in file order. */
export function pendingHunks(base: string, local: string, proposed: string, rejected: ReadonlySet<string> = new Set()): Hunk[] {
  const hunks: Hunk[] = [];
  let line = 0; // in the live text
  let proposedLine = 0; // in the agent's version
  for (const chunk of mergeThreeWay(base, local, proposed)) {
    switch (chunk.kind) {
      case 'stable':
      case 'both':
        line += chunk.lines.length;
        proposedLine += chunk.lines.length;
        break;
      case 'local':
        // The user's change: the agent's version still has the snapshot's lines there.
        line += chunk.lines.length;
        proposedLine += chunk.baseLines.length;
        break;
      case 'proposed':
      case 'conflict': {
        // A clean change finds the snapshot's lines in the live text; a conflict finds the user's.
        const conflict = chunk.kind === 'conflict';
        const localLines = conflict ? chunk.local : chunk.baseLines;
        const baseLines = conflict ? chunk.base : chunk.baseLines;
        const newLines = conflict ? chunk.proposed : chunk.lines;
        const key = hunkKey(baseLines, newLines);
        if (!rejected.has(key))
          hunks.push({
            key,
            startLine: line,
            lineCount: localLines.length,
            proposedStartLine: proposedLine,
            localLines,
            baseLines,
            newLines,
            conflict,
          });
        line += localLines.length;
        proposedLine += newLines.length;
        break;
      }
    }
  }
  return hunks;
}

export interface TextReplacement {
  start: { line: number; character: number };
  end: { line: number; character: number };
  text: string;
}

/**
 * The one replacement in `local` that applies a hunk, in the file's own line
 * endings, without touching anything outside the hunk's lines (so the
 * user's cursor and undo history elsewhere stay put).
 */
export function hunkReplacement(local: string, hunk: Hunk): TextReplacement {
  const { lines, finalNewline } = splitLines(local);
  const eol: Eol = detectEol(local) ?? '\n';
  const from = hunk.startLine;
  const to = hunk.startLine + hunk.lineCount;
  const body = hunk.newLines.map((l) => l + eol).join('');
  // A hunk that ends before the last line, or a file with a final newline: whole lines.
  if (to < lines.length || (finalNewline && to <= lines.length))
    return { start: { line: from, character: 0 }, end: { line: to, character: 0 }, text: body };
  // The hunk reaches the last line, which has no newline: keep it that way.
  const lastLen = lines.length ? lines[lines.length - 1].length : 0;
  const end = { line: Math.max(0, lines.length - 1), character: lastLen };
  if (from < lines.length) {
    // Deleting the last lines: the line before them gives up its newline instead.
    if (!hunk.newLines.length && from > 0) return { start: { line: from - 1, character: lines[from - 1].length }, end, text: '' };
    return { start: { line: from, character: 0 }, end, text: body.slice(0, body.length - eol.length) };
  }
  // Into an empty file: whole lines. After a last line without a newline: the new lines follow it, the last still without one.
  if (!lines.length) return { start: end, end, text: body };
  return { start: end, end, text: eol + body.slice(0, body.length - eol.length) };
}

const CONFLICT_MARKERS = {
  local: '<<<<<<< local',
  base: '||||||| base',
  proposed: '=======',
  end: '>>>>>>> proposed',
} as const;

/** What accepting a whole file writes for a hunk: the agent's lines, or for a conflict both sides between git-style markers. */
function withConflictMarkers(hunk: Hunk): Hunk {
  if (!hunk.conflict) return hunk;
  const { local, base, proposed, end } = CONFLICT_MARKERS;
  return { ...hunk, newLines: [local, ...hunk.localLines, base, ...hunk.baseLines, proposed, ...hunk.newLines, end] };
}

export interface FileMerge {
  /** The local file's BOM, kept in front and out of the line arithmetic (an editor's text has none). */
  bom: string;
  /** The local text without its BOM, and what accepting makes of it. */
  before: string;
  after: string;
  /** The edits that turn `before` into `after`, all in `before`'s coordinates, not overlapping. */
  replacements: TextReplacement[];
  /** How many of them are conflicts, written between markers. */
  conflicts: number;
}

/**
 * What accepting a whole text file does to the file as the user has it:
 * every pending hunk that was not rejected, conflicts between markers, in the
 * local file's line endings. A file untouched since the snapshot, with
 * nothing rejected, takes the agent's version as it is, layout included.
 */
export function mergeFile(base: string, local: string, proposed: string, rejected: ReadonlySet<string> = new Set()): FileMerge {
  const bom = local.startsWith('\uFEFF') ? '\uFEFF' : '';
  const before = local.slice(bom.length);
  if (!rejected.size && before === base)
    return { bom, before, after: proposed, replacements: [replaceWholeText(before, proposed)], conflicts: 0 };
  const hunks = pendingHunks(base, before, proposed, rejected);
  const replacements = hunks.map((h) => hunkReplacement(before, withConflictMarkers(h)));
  const conflicts = hunks.filter((h) => h.conflict).length;
  return { bom, before, after: applyReplacements(before, replacements), replacements, conflicts };
}

/** The replacement of a whole text by another (its end where the editor puts it: a CRLF ends a line like an LF). */
export function replaceWholeText(text: string, by: string): TextReplacement {
  const lines = text.split('\n');
  return { start: { line: 0, character: 0 }, end: { line: lines.length - 1, character: lines[lines.length - 1].length }, text: by };
}

/** Applies a replacement to a text (what the editor does; for tests and for files not open). */
export function applyReplacement(text: string, r: TextReplacement): string {
  return applyReplacements(text, [r]);
}

/** Applies replacements that do not overlap, all in `text`'s coordinates, as the editor applies one edit of several. */
export function applyReplacements(text: string, rs: readonly TextReplacement[]): string {
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const offset = (p: { line: number; character: number }) => (lineStarts[p.line] ?? text.length) + p.character;
  const parts: string[] = [];
  let at = 0;
  for (const r of [...rs].sort((a, b) => offset(a.start) - offset(b.start))) {
    parts.push(text.slice(at, offset(r.start)), r.text);
    at = offset(r.end);
  }
  parts.push(text.slice(at));
  return parts.join('');
}
