// Commands about the server: connect to one (or back to the embedded one),
// set the model provider's key, show the log. A key typed here for a host
// counts as the user's consent to send it there (see keyConsent).
import * as vscode from 'vscode';
import { approveOrigin, originOf } from '../server/keyConsent';
import { MODEL_KEY_SECRET, SERVER_KEY_SECRET, type ServerConnection } from '../server/serverConnection';
import { userSetting } from '../server/userSettings';

export async function connectServer(context: vscode.ExtensionContext, connection: ServerConnection): Promise<void> {
  const cfg = vscode.workspace.getConfiguration('astraforge');
  const url = await vscode.window.showInputBox({
    title: 'AstraForge: Connect to Server',
    prompt: 'URL of an AstraForge server; leave empty to use the embedded server this window starts',
    value: userSetting(vscode.workspace.getConfiguration('astraforge'), 'server.url'),
    ignoreFocusOut: true,
    validateInput: (v) => (!v.trim() || /^https?:\/\/[^\s]+$/.test(v.trim()) ? undefined : 'an http(s) URL, or empty'),
  });
  if (url === undefined) return;
  if (url.trim()) {
    const key = await vscode.window.showInputBox({
      title: 'AstraForge: server API key',
      password: true,
      ignoreFocusOut: true,
      prompt: 'Kept in VS Code secret storage',
    });
    if (!key) return;
    await context.secrets.store(SERVER_KEY_SECRET, key.trim());
    await approveOrigin(context.globalState, 'server', originOf('server', url.trim()));
  }
  // The settings change reconnects (see extension.ts); connect here too in case the value did not change.
  await cfg.update('server.url', url.trim(), vscode.ConfigurationTarget.Global);
  await connection.connect();
}

export async function setModelKey(context: vscode.ExtensionContext, connection: ServerConnection): Promise<void> {
  const baseUrl = userSetting(vscode.workspace.getConfiguration('astraforge'), 'model.baseUrl');
  const origin = baseUrl ? originOf('model', baseUrl) : undefined;
  const key = await vscode.window.showInputBox({
    title: 'AstraForge: model provider API key',
    prompt: `Kept in VS Code secret storage and handed only to the embedded server, never to a sandbox${origin ? `; its gateway sends it to ${origin}` : ''}; empty to remove it`,
    password: true,
    ignoreFocusOut: true,
  });
  if (key === undefined) return;
  if (key.trim()) await context.secrets.store(MODEL_KEY_SECRET, key.trim());
  else await context.secrets.delete(MODEL_KEY_SECRET);
  if (key.trim() && origin) await approveOrigin(context.globalState, 'model', origin);
  if (!userSetting(vscode.workspace.getConfiguration('astraforge'), 'server.url')) await connection.connect();
  void vscode.window.showInformationMessage(key.trim() ? 'AstraForge: model key saved.' : 'AstraForge: model key removed.');
}
