// Commands about the server: connect to one (or back to the user's own
// background server), set the model provider's key, stop the background
// server. A key typed here for a host counts as the user's consent to send
// it there (see keyConsent).
import * as vscode from 'vscode';
import type { Prompts } from '../prompts';
import { approveOrigin, originOf } from '../server/keyConsent';
import { MODEL_KEY_SECRET, SERVER_KEY_SECRET, type ServerConnection } from '../server/serverConnection';
import { userSetting } from '../server/userSettings';

export async function connectServer(context: vscode.ExtensionContext, connection: ServerConnection): Promise<void> {
  const cfg = vscode.workspace.getConfiguration('astraforge');
  const url = await vscode.window.showInputBox({
    title: 'AstraForge: Connect to Server',
    prompt: 'URL of an AstraForge server; leave empty to use your own background server on this machine',
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
    prompt: `Kept in VS Code secret storage and handed only to your AstraForge server's process, never to a sandbox${origin ? `; its gateway sends it to ${origin}` : ''}; empty to remove it`,
    password: true,
    ignoreFocusOut: true,
  });
  if (key === undefined) return;
  if (key.trim()) await context.secrets.store(MODEL_KEY_SECRET, key.trim());
  else await context.secrets.delete(MODEL_KEY_SECRET);
  if (key.trim() && origin) await approveOrigin(context.globalState, 'model', origin);
  void vscode.window.showInformationMessage(key.trim() ? 'AstraForge: model key saved.' : 'AstraForge: model key removed.');
  // The server takes the key at start: it restarts now when idle, or says it does once its runs end.
  if (!userSetting(vscode.workspace.getConfiguration('astraforge'), 'server.url')) await connection.connect({ settingsChanged: true });
}

/** Stops the user's background server now, after asking when runs are under way (they come back interrupted). */
export async function stopServer(connection: ServerConnection, prompts: Prompts): Promise<boolean> {
  if (userSetting(vscode.workspace.getConfiguration('astraforge'), 'server.url')) {
    void vscode.window.showInformationMessage(
      'AstraForge: this window uses the server set in astraforge.server.url, which AstraForge did not start; stop it where it runs.',
    );
    return false;
  }
  const info = await connection.userServerInfo().catch(() => undefined);
  if (!info) {
    void vscode.window.showInformationMessage('AstraForge: the background server is not running.');
    return false;
  }
  if (info.active_runs > 0) {
    const n = info.active_runs;
    const stop = 'Stop Server';
    const pick = await prompts.modal(
      `AstraForge: ${n} ${n === 1 ? 'run is' : 'runs are'} still under way. Stop the server anyway?`,
      `${n === 1 ? 'It stops' : 'They stop'} now and ${n === 1 ? 'comes' : 'come'} back as interrupted; the server starts again when you next use AstraForge.`,
      stop,
    );
    if (pick !== stop) return false;
  }
  await connection.stopServer();
  void vscode.window.showInformationMessage('AstraForge: the background server stopped.');
  return true;
}
