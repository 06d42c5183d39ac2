// The questions the extension asks in a modal dialog, behind one small
// interface, so that tests can answer them (a real modal would wait for a
// click no test can make).
import * as vscode from 'vscode';

export interface Prompts {
  /** A modal warning with its detail below; resolves to the choice picked, undefined for Cancel. */
  modal(message: string, detail: string | undefined, ...choices: string[]): Thenable<string | undefined>;
}

export function windowPrompts(): Prompts {
  return {
    modal: (message, detail, ...choices) => vscode.window.showWarningMessage(message, { modal: true, detail }, ...choices),
  };
}
