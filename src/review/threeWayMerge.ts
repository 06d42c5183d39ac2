// The review's one merge: the agent's version of a file against the file as
// the user has it, line by line against the snapshot's base, so the user's
// edits survive and only real overlaps become conflicts. Lines are compared
// without their layout (line endings, a BOM, the final newline: see
// lineText.ts). hunks.ts turns the chunks into the changes the user accepts,
// and writes them. Pure; binary files never come here.
import { diffArrays } from 'diff';
import { splitLines } from './lineText';

export type MergeChunk =
  | { kind: 'stable'; lines: string[] }
  | { kind: 'local' | 'proposed' | 'both'; lines: string[]; baseLines: string[] }
  | { kind: 'conflict'; base: string[]; local: string[]; proposed: string[] };

// Myers' diff costs about (lines x edits); two 20,000-line files with nothing
// in common take minutes. Past this many inserted plus removed lines a side
// counts as one whole-file edit: still correct, only coarser.
const MAX_EDIT_LENGTH = 2000;

/** One side's change: base lines [baseStart, baseEnd) became that side's lines [sideStart, sideEnd). */
interface Edit {
  baseStart: number;
  baseEnd: number;
  sideStart: number;
  sideEnd: number;
}

/** Overlapping or touching edits from either side, over base lines [baseStart, baseEnd). */
interface EditGroup {
  baseStart: number;
  baseEnd: number;
  local: Edit[];
  proposed: Edit[];
}

/** The three texts' lines as chunks in file order (lines carry no terminators). */
export function mergeThreeWay(base: string, local: string, proposed: string): MergeChunk[] {
  return mergeLines(splitLines(base).lines, splitLines(local).lines, splitLines(proposed).lines);
}

function mergeLines(base: string[], local: string[], proposed: string[]): MergeChunk[] {
  const chunks: MergeChunk[] = [];
  let pos = 0;
  for (const group of groupEdits(editsFrom(base, local), editsFrom(base, proposed))) {
    pushStable(chunks, base.slice(pos, group.baseStart));
    chunks.push(groupChunk(group, base, local, proposed));
    pos = group.baseEnd;
  }
  pushStable(chunks, base.slice(pos));
  return chunks;
}

function editsFrom(base: string[], side: string[]): Edit[] {
  const changes = diffArrays(base, side, { maxEditLength: MAX_EDIT_LENGTH });
  if (changes === undefined) return [{ baseStart: 0, baseEnd: base.length, sideStart: 0, sideEnd: side.length }];
  const edits: Edit[] = [];
  let b = 0;
  let s = 0;
  let open: Edit | undefined;
  for (const change of changes) {
    if (!change.added && !change.removed) {
      if (open) edits.push(open);
      open = undefined;
      b += change.count;
      s += change.count;
      continue;
    }
    open ??= { baseStart: b, baseEnd: b, sideStart: s, sideEnd: s };
    if (change.removed) {
      b += change.count;
      open.baseEnd = b;
    } else {
      s += change.count;
      open.sideEnd = s;
    }
  }
  if (open) edits.push(open);
  return edits;
}

// Edits are grouped when their base ranges overlap or merely touch (one ends
// where the other starts, or both insert at the same line). Touching edits
// from both sides are a conflict, as in git: with no unchanged line between
// them nothing anchors their order (two insertions at one place), and edits to
// neighbouring lines usually belong to one statement or paragraph, so a silent
// combination would be text neither side wrote. The user decides instead.
function groupEdits(local: Edit[], proposed: Edit[]): EditGroup[] {
  const groups: EditGroup[] = [];
  let i = 0;
  let j = 0;
  while (i < local.length || j < proposed.length) {
    const group: EditGroup = { baseStart: Infinity, baseEnd: -Infinity, local: [], proposed: [] };
    const fromLocal = j >= proposed.length || (i < local.length && local[i].baseStart <= proposed[j].baseStart);
    if (fromLocal) addEdit(group, group.local, local[i++]);
    else addEdit(group, group.proposed, proposed[j++]);
    for (;;) {
      if (i < local.length && local[i].baseStart <= group.baseEnd) addEdit(group, group.local, local[i++]);
      else if (j < proposed.length && proposed[j].baseStart <= group.baseEnd) addEdit(group, group.proposed, proposed[j++]);
      else break;
    }
    groups.push(group);
  }
  return groups;
}

function addEdit(group: EditGroup, side: Edit[], edit: Edit): void {
  side.push(edit);
  group.baseStart = Math.min(group.baseStart, edit.baseStart);
  group.baseEnd = Math.max(group.baseEnd, edit.baseEnd);
}

function groupChunk(group: EditGroup, base: string[], local: string[], proposed: string[]): MergeChunk {
  const baseLines = base.slice(group.baseStart, group.baseEnd);
  const localLines = sideLines(group, group.local, local, base);
  const proposedLines = sideLines(group, group.proposed, proposed, base);
  if (group.proposed.length === 0) return { kind: 'local', lines: localLines, baseLines };
  if (group.local.length === 0) return { kind: 'proposed', lines: proposedLines, baseLines };
  if (sameLines(localLines, proposedLines)) return { kind: 'both', lines: localLines, baseLines };
  return { kind: 'conflict', base: baseLines, local: localLines, proposed: proposedLines };
}

/** What one side made of the group's base range: outside its own edits it still equals base. */
function sideLines(group: EditGroup, edits: Edit[], side: string[], base: string[]): string[] {
  if (edits.length === 0) return base.slice(group.baseStart, group.baseEnd);
  const first = edits[0];
  const last = edits[edits.length - 1];
  return side.slice(first.sideStart - (first.baseStart - group.baseStart), last.sideEnd + (group.baseEnd - last.baseEnd));
}

function pushStable(chunks: MergeChunk[], lines: string[]): void {
  if (lines.length > 0) chunks.push({ kind: 'stable', lines });
}

function sameLines(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((line, i) => line === b[i]);
}
