// Which server the extension talks to, and whether it can: the embedded
// one it starts itself (the default), or a remote one named by
// `astraforge.server.url` with its key in SecretStorage. One clear message
// with the action that fixes it when the server is missing, unreachable or
// rejects the key. Where the keys go is read from the user's own settings
// only (userSettings), and a key goes to a new host only once the user
// agreed (keyConsent).
import * as vscode from 'vscode';
import type { Prompts } from '../prompts';
import type { ConnectionState } from '../webview/protocol';
import { startEmbeddedServer, type RunningServer } from './embeddedServer';
import { mayKeyGoTo, originOf } from './keyConsent';
import { ServerClient, ServerError } from './serverClient';
import { userSetting } from './userSettings';

export const SERVER_KEY_SECRET = 'astraforge.server.apiKey';
export const MODEL_KEY_SECRET = 'astraforge.model.apiKey';
/** Data folders the embedded server may use: one per window that runs one at the same time. */
const MAX_DATA_SLOTS = 8;

export class ServerConnection implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ConnectionState>();
  readonly onDidChange = this.changed.event;
  private current: ConnectionState = { status: 'starting' };
  private clientInstance?: ServerClient;
  private embedded?: RunningServer;
  private connecting?: Promise<void>;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
    private readonly prompts: Prompts,
  ) {}

  /** The embedded server's process id while it runs (for the log and the tests). */
  get embeddedPid(): number | undefined {
    return this.embedded?.pid;
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** The client, once connected; otherwise an error that says what to do. */
  async client(): Promise<ServerClient> {
    if (this.connecting) await this.connecting;
    if (!this.clientInstance || this.current.status !== 'connected')
      throw new Error(this.current.message ?? 'AstraForge is not connected to a server');
    return this.clientInstance;
  }

  /** (Re)connects with the current settings. */
  connect(): Promise<void> {
    // One after the other: two at once would each start a server (each with the key), and one would be left running.
    const previous = this.connecting ?? Promise.resolve();
    const settled: Promise<void> = previous
      .catch(() => undefined)
      .then(() => this.doConnect())
      .finally(() => {
        if (this.connecting === settled) this.connecting = undefined;
      });
    this.connecting = settled;
    return settled;
  }

  private async doConnect(): Promise<void> {
    await this.teardown();
    this.set({ status: 'starting' });
    const url = userSetting(vscode.workspace.getConfiguration('astraforge'), 'server.url');
    try {
      if (url) await this.connectRemote(url.replace(/\/+$/, ''));
      else await this.startEmbedded();
    } catch (e) {
      const message = (e as Error).message;
      this.log.error(`connection failed: ${message}`);
      this.set({ status: 'error', message, serverUrl: url || undefined });
      void this.offerFix(url, e);
    }
  }

  private async connectRemote(url: string): Promise<void> {
    const key = await this.context.secrets.get(SERVER_KEY_SECRET);
    if (!key) throw new Error(`no API key is set for ${url}: run "AstraForge: Connect to Server" to enter it`);
    const origin = originOf('server', url);
    if (!(await mayKeyGoTo(this.context.globalState, this.prompts, 'server', origin)))
      throw new Error(
        `your server key was not sent to ${origin}: run "AstraForge: Connect to Server" to confirm that server, or set astraforge.server.url in your user settings to the one you trust`,
      );
    const client = new ServerClient(url, key);
    if (!(await client.health())) throw new Error(`the AstraForge server at ${url} does not answer`);
    try {
      await client.checkAuth();
    } catch (e) {
      if (e instanceof ServerError && e.status === 401) throw new Error(`the server at ${url} rejected the API key`);
      throw e;
    }
    this.clientInstance = client;
    this.log.info(`connected to ${url}`);
    this.set({ status: 'connected', serverUrl: url });
  }

  private async startEmbedded(): Promise<void> {
    const cfg = vscode.workspace.getConfiguration('astraforge');
    const model = await this.modelSettings();
    const options = {
      mainJs: vscode.Uri.joinPath(this.context.extensionUri, 'server', 'dist', 'main.js').fsPath,
      model: { ...model, name: cfg.get<string>('model.name') || process.env.ASTRAFORGE_MODEL },
      codexBinary: userSetting(vscode.workspace.getConfiguration('astraforge'), 'codex.path') || process.env.ASTRAFORGE_CODEX_BINARY,
      log: (line: string) => this.log.info(`[server] ${line}`),
    };
    // One server per data folder: a second window whose first choice is taken
    // (another window's server holds it) uses the next one.
    let server: RunningServer | undefined;
    for (let slot = 1; !server; slot++) {
      const dataDir = vscode.Uri.joinPath(this.context.globalStorageUri, slot === 1 ? 'server' : `server-${slot}`).fsPath;
      try {
        server = await startEmbeddedServer({ ...options, dataDir });
      } catch (e) {
        if (slot >= MAX_DATA_SLOTS || !/in use by another AstraForge server/.test((e as Error).message)) throw e;
        this.log.info(`${dataDir} is in use by another window's server; trying the next folder`);
      }
    }
    this.embedded = server;
    this.clientInstance = new ServerClient(server.url, server.apiKey);
    this.log.info(`embedded server started at ${server.url} (pid ${server.pid})`);
    this.set({ status: 'connected', serverUrl: server.url });
    if (model.withheldFrom) void this.explainWithheldKey(model.withheldFrom);
    void server.exited.then(({ code }) => {
      if (this.embedded !== server) return;
      this.embedded = undefined;
      const message = `the embedded server stopped (exit code ${code}); see "AstraForge: Show Server Log"`;
      this.log.error(message);
      this.set({ status: 'error', message });
    });
  }

  /**
   * Where the model key goes and the key itself, when the user agrees to send
   * it there. A base URL from the process environment is the user's own
   * choice, as the environment of VS Code is theirs: it does not ask.
   */
  private async modelSettings(): Promise<{ baseUrl?: string; apiKey?: string; withheldFrom?: string }> {
    const configured = userSetting(vscode.workspace.getConfiguration('astraforge'), 'model.baseUrl');
    const baseUrl = configured || process.env.ASTRAFORGE_MODEL_BASE_URL || undefined;
    const apiKey = (await this.context.secrets.get(MODEL_KEY_SECRET)) || process.env.ASTRAFORGE_MODEL_API_KEY || undefined;
    if (!apiKey || !configured) return { baseUrl, apiKey };
    const origin = originOf('model', configured);
    if (await mayKeyGoTo(this.context.globalState, this.prompts, 'model', origin)) return { baseUrl, apiKey };
    this.log.warn(`the model key was not sent to ${origin}: the user declined`);
    return { baseUrl, withheldFrom: origin };
  }

  private async explainWithheldKey(origin: string): Promise<void> {
    const pick = await vscode.window.showWarningMessage(
      `AstraForge: your model key was not sent to ${origin}, so agents that need the model will fail. ` +
        'To send it, choose Ask Again; to send it elsewhere, set astraforge.model.baseUrl in your user settings.',
      'Ask Again',
      'Open User Settings',
    );
    if (pick === 'Ask Again') await this.connect();
    if (pick === 'Open User Settings') await vscode.commands.executeCommand('workbench.action.openSettings', 'astraforge.model.baseUrl');
  }

  private async offerFix(url: string, e: unknown): Promise<void> {
    const message = `AstraForge: ${(e as Error).message}`;
    const actions = url ? ['Connect to Server', 'Show Server Log'] : ['Show Server Log', 'Use a Remote Server'];
    const pick = await vscode.window.showErrorMessage(message, ...actions);
    if (pick === 'Show Server Log') this.log.show(true);
    if (pick === 'Connect to Server' || pick === 'Use a Remote Server') await vscode.commands.executeCommand('astraforge.connectServer');
  }

  private set(state: ConnectionState): void {
    this.current = state;
    this.changed.fire(state);
  }

  private async teardown(): Promise<void> {
    const client = this.clientInstance;
    this.clientInstance = undefined;
    await client?.close().catch(() => undefined);
    const server = this.embedded;
    this.embedded = undefined;
    await server?.stop();
  }

  async dispose(): Promise<void> {
    await this.teardown();
    this.changed.dispose();
  }
}
