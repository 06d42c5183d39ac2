// Asks before a key goes to a host it has not gone to before. The model key
// goes (through the embedded server's gateway) to `astraforge.model.baseUrl`,
// the server key to `astraforge.server.url`: each remembers, in the global
// state, the origin the user last agreed to, and a different one asks in a
// modal. Declining keeps the key where it is. Imports only types of `vscode`.
import type * as vscode from 'vscode';
import type { Prompts } from '../prompts';

export type KeyKind = 'model' | 'server';

const ORIGIN_KEY: Record<KeyKind, string> = {
  model: 'astraforge.keyOrigin.model',
  server: 'astraforge.keyOrigin.server',
};
const SETTING: Record<KeyKind, string> = { model: 'astraforge.model.baseUrl', server: 'astraforge.server.url' };
export const SEND_KEY = 'Send Key';

/** The origin (scheme, host, port) of a URL setting; throws a message that names the setting when it is no URL. */
export function originOf(kind: KeyKind, url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
    return parsed.origin;
  } catch {
    throw new Error(`${SETTING[kind]} is not an http(s) URL: ${url}`);
  }
}

/** Notes that the user sent (or is about to send) this key to this origin themselves, as when they type the key for it. */
export function approveOrigin(state: vscode.Memento, kind: KeyKind, origin: string): Thenable<void> {
  return state.update(ORIGIN_KEY[kind], origin);
}

export function approvedOrigin(state: vscode.Memento, kind: KeyKind): string | undefined {
  return state.get<string>(ORIGIN_KEY[kind]);
}

/** Whether the key may go to this origin: yes when it went there before, else what the user answers. */
export async function mayKeyGoTo(state: vscode.Memento, prompts: Prompts, kind: KeyKind, origin: string): Promise<boolean> {
  const before = approvedOrigin(state, kind);
  if (before === origin) return true;
  const pick = await prompts.modal(
    `Send your ${kind} key to ${origin}?`,
    `${SETTING[kind]} in your user settings now points there; ${before ? `your key last went to ${before}` : 'your key has not been sent anywhere yet'}. ` +
      `Only send it to a host you trust: whoever runs it gets your key.`,
    SEND_KEY,
  );
  if (pick !== SEND_KEY) return false;
  await approveOrigin(state, kind, origin);
  return true;
}
