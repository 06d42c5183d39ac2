// Which server the extension talks to, and whether it can: the user's own
// background server (the default: one for every window, found or started by
// userServer, never stopped by a window closing or reloading), or a remote
// one named by `astraforge.server.url` with its key in SecretStorage. One
// clear message with the action that fixes it when the server is missing,
// unreachable or rejects the key. Where the keys go is read from the user's
// own settings only (userSettings), and a key goes to a new host only once
// the user agreed (keyConsent).
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { Prompts } from '../prompts';
import type { ConnectionState } from '@astraforge/contract/webviewMessages';
import type { ServerInfo } from '@astraforge/contract/serverApi';
import { mayKeyGoTo, originOf } from './keyConsent';
import { ServerClient, ServerError } from './serverClient';
import { buildToAsk, codeBuild, codeOf, serverBuild, type ServerSettings } from './serverIdentity';
import { stopRecordlessServers } from './recordlessServers';
import { followLog, logSize } from './serverLog';
import { isProcessAlive, watchServer } from './serverWatch';
import { findOrStartUserServer, readRecord, SERVER_LOG_FILE, type UserServer } from './userServer';
import { userSetting } from './userSettings';

export const SERVER_KEY_SECRET = 'astraforge.server.apiKey';
export const MODEL_KEY_SECRET = 'astraforge.model.apiKey';
const STOPPED_MESSAGE = 'The AstraForge server is stopped; it starts again when you next use AstraForge.';
/** The pid of the server the user last stopped, in globalState: the other windows leave it stopped instead of starting another. */
const STOPPED_PID_KEY = 'astraforge.server.stoppedPid';

export interface ConnectOptions {
  /**
   * The server's settings were just changed in this window (a model key, a
   * setting): a running server started with others is replaced, or when runs
   * are active, replaced once they end. Otherwise a running server of this
   * code is used as it is.
   */
  settingsChanged?: boolean;
}

export class ServerConnection implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<ConnectionState>();
  readonly onDidChange = this.changed.event;
  private current: ConnectionState = { status: 'starting' };
  private clientInstance?: ServerClient;
  /** The process id of the user's background server while this window uses it. */
  private userServerPid?: number;
  /** The watch on the server in use and the follower of its log; ended with the connection, never the server. */
  private watched: { dispose(): void }[] = [];
  private connecting?: Promise<void>;
  /** The user stopped the server: it stays stopped until AstraForge is used again. */
  private stoppedByUser = false;
  /** This window's code build (see serverIdentity), taken at the first connect. */
  private code?: string;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
    private readonly prompts: Prompts,
  ) {}

  /** The user's server's process id while this window uses it (for the log and the tests). */
  get serverPid(): number | undefined {
    return this.userServerPid;
  }

  /** The folder of the user's background server: its record, its log, its runs. */
  get serverDataDir(): string {
    return vscode.Uri.joinPath(this.context.globalStorageUri, 'server').fsPath;
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** The client, once connected; otherwise an error that says what to do. */
  async client(): Promise<ServerClient> {
    if (this.connecting) await this.connecting;
    // The next use after the server went away (or was stopped) brings one back.
    const gone = this.userServerPid !== undefined && !isProcessAlive(this.userServerPid);
    if (gone || this.stoppedByUser) await this.connect();
    if (!this.clientInstance || this.current.status !== 'connected')
      throw new Error(this.current.message ?? 'AstraForge is not connected to a server');
    return this.clientInstance;
  }

  /** (Re)connects with the current settings. */
  connect(opts: ConnectOptions = {}): Promise<void> {
    // One after the other: two at once would each ask for a server.
    const previous = this.connecting ?? Promise.resolve();
    const settled: Promise<void> = previous
      .catch(() => undefined)
      .then(() => this.doConnect(opts))
      .finally(() => {
        if (this.connecting === settled) this.connecting = undefined;
      });
    this.connecting = settled;
    return settled;
  }

  private async doConnect(opts: ConnectOptions): Promise<void> {
    await this.disconnect();
    this.stoppedByUser = false;
    this.set({ status: 'starting' });
    const url = userSetting(vscode.workspace.getConfiguration('astraforge'), 'server.url');
    try {
      if (url) await this.connectRemote(url.replace(/\/+$/, ''));
      else await this.connectUserServer(opts);
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
    this.watch(client, undefined);
  }

  private async connectUserServer(opts: ConnectOptions): Promise<void> {
    const cfg = vscode.workspace.getConfiguration('astraforge');
    const model = await this.modelSettings();
    const settings: ServerSettings = {
      model: { baseUrl: model.baseUrl, apiKey: model.apiKey, name: cfg.get<string>('model.name') || process.env.ASTRAFORGE_MODEL },
      codexBinary: userSetting(cfg, 'codex.path') || process.env.ASTRAFORGE_CODEX_BINARY,
    };
    const mainJs = vscode.Uri.joinPath(this.context.extensionUri, 'server', 'dist', 'main.js').fsPath;
    const dataDir = this.serverDataDir;
    const version = String(this.context.extension.packageJSON.version ?? '0.0.0');
    // The code this window runs is the code it was activated with: its identity is taken once.
    this.code ??= codeBuild(version, mainJs);
    const ours = serverBuild(this.code, settings);
    const launch = (build: string) =>
      findOrStartUserServer({
        mainJs,
        dataDir,
        version,
        build,
        model: settings.model,
        codexBinary: settings.codexBinary,
        idleExitMinutes: cfg.get<number>('server.idleExitMinutes', 30),
        log: (line) => this.log.info(line),
      });
    const retired = await stopRecordlessServers(dataDir, this.context.globalStorageUri.fsPath);
    if (retired.length)
      this.log.info(
        `stopped ${retired.length} AstraForge server(s) of an earlier version that no window could reach (pid ${retired.join(', ')})`,
      );
    const logFile = join(dataDir, SERVER_LOG_FILE);
    // The window shows the server's log from here on: a server it starts, from its first line.
    const logFrom = logSize(logFile);
    const asked = buildToAsk(ours, this.runningBuild(dataDir), opts.settingsChanged === true);
    let server = await launch(asked);
    // The server to adopt went away meanwhile and this window started one under its build: start one under its own.
    if (server.startedHere && asked !== ours) server = await launch(ours);
    this.watched.push(followLog(logFile, logFrom, (line) => this.log.info(`[server] ${line}`)));
    this.userServerPid = server.pid;
    const client = new ServerClient(server.url, server.apiKey);
    this.clientInstance = client;
    this.log.info(
      server.startedHere
        ? `started the AstraForge server at ${server.url} (pid ${server.pid}); its log: ${logFile}`
        : `connected to the running AstraForge server at ${server.url} (pid ${server.pid}, ${server.record.version})`,
    );
    this.set({ status: 'connected', serverUrl: server.url });
    this.watch(client, server.pid);
    if (model.withheldFrom) void this.explainWithheldKey(model.withheldFrom);
    if (server.outdated) void this.explainOutdated(client, server, ours);
  }

  /** The build of the server the record names, while its process lives. */
  private runningBuild(dataDir: string): string | undefined {
    const record = readRecord(dataDir);
    return record && isProcessAlive(record.pid) ? record.build : undefined;
  }

  /**
   * Watches the server in use: when it goes (an outdated one that finished
   * its runs, the idle exit, a crash) the window connects again, which
   * starts a server when none runs. Its pings keep the server's idle
   * timeout from firing while this window is open.
   */
  private watch(client: ServerClient, pid: number | undefined): void {
    this.watched.push(
      watchServer({
        pid,
        ping: async () => {
          try {
            return await client.serverInfo();
          } catch (e) {
            if (e instanceof ServerError) return undefined; // it answered: an older server without this route
            throw e;
          }
        },
        onGone: (why) => {
          if (this.clientInstance !== client) return;
          if (pid !== undefined && this.context.globalState.get<number>(STOPPED_PID_KEY) === pid) {
            this.log.info(`the AstraForge server (pid ${pid}) was stopped from another window`);
            void this.markStopped();
            return;
          }
          this.log.warn(`${why}; connecting again`);
          void this.connect();
        },
      }),
    );
  }

  /** What the user's server says of itself (its runs under way), while this window uses it; undefined for a remote server. */
  async userServerInfo(): Promise<ServerInfo | undefined> {
    if (this.userServerPid === undefined || this.stoppedByUser) return undefined;
    return (await this.client()).serverInfo();
  }

  /**
   * Stops the user's server now: its active runs come back interrupted.
   * It stays stopped until AstraForge is used again. Resolves once the
   * process is gone.
   */
  async stopServer(): Promise<void> {
    if (this.connecting) await this.connecting;
    const pid = this.userServerPid;
    const client = this.clientInstance;
    if (pid === undefined || !client) throw new Error('this window does not use the AstraForge background server');
    // Said before it goes, so the other windows, seeing it gone, know not to start another.
    await this.context.globalState.update(STOPPED_PID_KEY, pid);
    await client.shutdown('now');
    this.log.info(`asked the AstraForge server (pid ${pid}) to stop`);
    await this.markStopped();
    const end = Date.now() + 15_000;
    while (isProcessAlive(pid) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    if (isProcessAlive(pid)) {
      this.log.warn(`the AstraForge server (pid ${pid}) did not stop within 15 s; ending it`);
      process.kill(pid, 'SIGKILL');
    }
  }

  private async markStopped(): Promise<void> {
    await this.disconnect();
    this.stoppedByUser = true;
    this.set({ status: 'error', message: STOPPED_MESSAGE });
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
    if (pick === 'Ask Again') await this.connect({ settingsChanged: true });
    if (pick === 'Open User Settings') await vscode.commands.executeCommand('workbench.action.openSettings', 'astraforge.model.baseUrl');
  }

  /** The server in use keeps its runs going under the old build or settings, and is replaced once they end. */
  private async explainOutdated(client: ServerClient, server: UserServer, ours: string): Promise<void> {
    const active = await client.serverInfo().then(
      (info) => info.active_runs,
      () => undefined,
    );
    const what = codeOf(server.record.build) === codeOf(ours) ? 'the new model settings apply' : 'this version of AstraForge takes over';
    const runs = active === undefined ? 'its runs' : `its ${active} ${active === 1 ? 'run' : 'runs'} under way`;
    void vscode.window.showInformationMessage(
      `AstraForge: the server finishes ${runs} first; ${what} when they end and the server restarts by itself.`,
    );
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

  /** Lets go of the server (its client, watch and log), never stopping it: other windows and the runs go on using it. */
  private async disconnect(): Promise<void> {
    for (const w of this.watched.splice(0)) w.dispose();
    this.userServerPid = undefined;
    const client = this.clientInstance;
    this.clientInstance = undefined;
    await client?.close().catch(() => undefined);
  }

  async dispose(): Promise<void> {
    await this.disconnect();
    this.changed.dispose();
  }
}
