// The review's commands: showing, accepting and rejecting its files and
// single changes, and undoing an apply, each followed by what the user is
// told (reviewMessages). Accepting from the list asks first where the user
// must: a sensitive file (sensitivePaths: what can run code or move secrets)
// is only written once the user said so in a modal that lists it (Accept
// All offers to apply with or without the sensitive files; a single one
// asks too, as its one-click button does not say it runs code), and a file
// only the user can decide asks which side to take. Accepting one change
// (CodeLens, Ctrl+Alt+Enter) does not ask: it is shown, line by line, in
// the file where it lands.
import * as vscode from 'vscode';
import type { Prompts } from '../prompts';
import type { CarriedOut } from './carryOut';
import type { ChangeLenses } from './changeLenses';
import type { FileProposal } from './fileProposal';
import type { AcceptResult, ReviewController } from './reviewController';
import { reportAccept, reportUndo } from './reviewMessages';
import { printablePath } from './safeTarget';

/** Registers a command (extension.ts's: it reports what a command throws). */
export type RegisterCommand = (id: string, fn: (...args: never[]) => Promise<unknown>) => void;

/** A file of the review as a command receives it: from the tree (a FileProposal), the diff editor's title (a URI) or a caller (a path). */
type FileArg = string | FileProposal | vscode.Uri;

export function registerReviewCommands(register: RegisterCommand, review: ReviewController, lenses: ChangeLenses, prompts: Prompts): void {
  const pathOf = (arg?: FileArg) => {
    const path = typeof arg === 'string' ? arg : arg instanceof vscode.Uri ? review.pathOf(arg) : arg?.path;
    if (!path) throw new Error('no file of the open review was given');
    return path;
  };
  const undoApply = async (which?: CarriedOut) => {
    const r = await review.undoApply(which);
    reportUndo(r, which);
    return r;
  };
  const reported = (r: AcceptResult | undefined) => {
    if (r) reportAccept(r, undoApply);
    return r;
  };
  register('astraforge.review.showFile', (arg?: FileArg) => review.showDiff(pathOf(arg), false));
  register('astraforge.review.showAll', () => review.showAll());
  register('astraforge.review.acceptFile', async (arg?: FileArg) => reported(await acceptFile(review, pathOf(arg), prompts)));
  register('astraforge.review.rejectFile', (arg?: FileArg) => review.reject([pathOf(arg)]));
  register('astraforge.review.acceptAll', async () => reported(await acceptAll(review, prompts)));
  register('astraforge.review.discardAll', () => review.reject());
  register('astraforge.review.undoApply', () => undoApply());
  register('astraforge.review.close', () => review.close());
  register('astraforge.review.acceptHunk', (uri?: vscode.Uri, key?: string) => lenses.acceptHunk(uri, key));
  register('astraforge.review.rejectHunk', (uri?: vscode.Uri, key?: string) => lenses.rejectHunk(uri, key));
  register('astraforge.review.nextHunk', () => lenses.nextHunk());
}

const APPLY_ALL_BUT_SENSITIVE = 'Apply all but sensitive';
const applyIncluding = (n: number) => `Apply including ${n} sensitive file${n === 1 ? '' : 's'}`;
const APPLY_SENSITIVE = 'Apply';

/** Every pending file; when some are sensitive, only as the user picks in the modal. Undefined when nothing was applied. */
async function acceptAll(review: ReviewController, prompts: Prompts): Promise<AcceptResult | undefined> {
  const pending = review.pendingFiles();
  const sensitive = pending.filter((f) => f.sensitive);
  if (!sensitive.length) return review.accept();
  const including = applyIncluding(sensitive.length);
  const n = sensitive.length;
  const pick = await prompts.modal(
    `AstraForge: ${n} of the ${pending.length} files to apply ${n === 1 ? 'is' : 'are'} sensitive: ${n === 1 ? 'it' : 'they'} can run code or change where secrets go.`,
    sensitiveList(sensitive),
    including,
    APPLY_ALL_BUT_SENSITIVE,
  );
  if (pick === including) return review.accept(pending.map((f) => f.path));
  if (pick !== APPLY_ALL_BUT_SENSITIVE) return undefined;
  const rest = pending.filter((f) => !f.sensitive).map((f) => f.path);
  return rest.length ? review.accept(rest) : undefined;
}

/** One file, by the user's own click: a sensitive one after a modal, one only they can decide after they pick a side. */
async function acceptFile(review: ReviewController, path: string, prompts: Prompts): Promise<AcceptResult | undefined> {
  const f = review.current?.files.find((x) => x.path === path);
  if (f?.kind === 'refused') {
    void vscode.window.showWarningMessage(`AstraForge: ${printablePath(path)} is refused and will not be written: ${f.reason}.`);
    return undefined;
  }
  if (f?.sensitive) {
    const pick = await prompts.modal(`AstraForge: apply ${printablePath(path)}? It is sensitive.`, sensitiveList([f]), APPLY_SENSITIVE);
    if (pick !== APPLY_SENSITIVE) return undefined;
  }
  if (f?.kind !== 'choose') return review.accept([path]);
  // The user asked for this file: say what is at stake and let them pick.
  if (!f.agentSide) {
    void vscode.window.showWarningMessage(`AstraForge: ${path}: ${f.reason}; nothing of the agent's can be applied.`);
    return undefined;
  }
  const take = f.agentSide.action === 'delete' ? 'Delete it' : "Take the agent's version";
  const pick = await prompts.modal(`AstraForge: ${path}: ${f.reason}.`, undefined, take, 'Keep mine');
  if (pick === 'Keep mine') await review.reject([path]);
  if (pick === take) return review.accept([path], { takeAgentSide: true });
  return undefined;
}

function sensitiveList(files: readonly FileProposal[]): string {
  const shown = files.slice(0, 20).map((f) => `${printablePath(f.path)}: ${f.sensitive}`);
  return [...shown, ...(files.length > 20 ? [`and ${files.length - 20} more`] : [])].join('\n');
}
