// Accepting files of the open review from the list: Accept All, and one
// file by its inline button or the diff editor's title. A sensitive file
// (sensitivePaths: what can run code or move secrets) is only written once
// the user said so in a modal, listing it: Accept All offers to apply with
// or without the sensitive files, a single sensitive file asks too (a one
// click button beside a name that does not say it runs code). Accepting one
// change (CodeLens, Ctrl+Alt+Enter) does not ask: it is shown, line by line,
// in the file where it lands.
import * as vscode from 'vscode';
import type { Prompts } from '../prompts';
import type { FileProposal } from '../review/fileProposal';
import type { AcceptResult, ReviewController } from '../review/reviewController';
import { printablePath } from '../review/safeTarget';

export const APPLY_ALL_BUT_SENSITIVE = 'Apply all but sensitive';
export const applyIncluding = (n: number) => `Apply including ${n} sensitive file${n === 1 ? '' : 's'}`;
export const APPLY_SENSITIVE = 'Apply';

/** Every pending file; when some are sensitive, only as the user picks in the modal. Undefined when nothing was applied. */
export async function acceptAll(review: ReviewController, prompts: Prompts): Promise<AcceptResult | undefined> {
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
export async function acceptFile(review: ReviewController, path: string, prompts: Prompts): Promise<AcceptResult | undefined> {
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
