// Runs keep going when no window is open. When a window of their folder
// connects again, one notification says how many finished meanwhile and
// offers to show them: once (the runs any window has shown or announced are
// remembered in globalState), and without taking the keyboard. The last
// time a window of the folder was connected is kept in its workspaceState.
import * as vscode from 'vscode';
import { TERMINAL_STATUSES, type Run } from '@astraforge/contract/runApi';
import type { ServerConnection } from '../server/serverConnection';
import { awayMessage, finishedWhileAway, withKnown } from './finishedWhileAway';
import type { RunsController } from './runsController';

const KNOWN_KEY = 'astraforge.runs.known';
const SEEN_KEY = 'astraforge.runs.seenUntil';
const SEEN_EVERY_MS = 30_000;

export class AwayNotice implements vscode.Disposable {
  private readonly announced = new vscode.EventEmitter<Run[]>();
  /** Fires with the runs of each notification (for the tests and the log). */
  readonly onDidAnnounce = this.announced.event;
  private readonly disposables: vscode.Disposable[] = [];
  /** The next run list is the first since the server connected: compare it with the last time seen. */
  private checkNext = false;
  private lastSeenWrite = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly connection: ServerConnection,
    runs: RunsController,
    private readonly show: (runs: readonly Run[]) => Promise<void>,
  ) {
    this.disposables.push(
      connection.onDidChange((state) => {
        if (state.status === 'connected') this.checkNext = true;
      }),
      runs.onDidChangeRuns((list) => void this.onRuns(list)),
    );
    this.timer = setInterval(() => void this.stampSeen(), SEEN_EVERY_MS);
    this.timer.unref();
  }

  private async onRuns(list: readonly Run[]): Promise<void> {
    const known = this.context.globalState.get<string[]>(KNOWN_KEY, []);
    if (this.checkNext) {
      this.checkNext = false;
      const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.toString());
      const news = finishedWhileAway(list, folders, this.context.workspaceState.get<string>(SEEN_KEY), new Set(known));
      if (news.length) this.announce(news);
    }
    // What the list showed finished is no news for the next window.
    const finished = list.filter((r) => TERMINAL_STATUSES.includes(r.status)).map((r) => r.id);
    const updated = withKnown(known, finished);
    if (updated.length !== known.length || updated.some((id, i) => id !== known[i]))
      await this.context.globalState.update(KNOWN_KEY, updated);
    await this.stampSeen();
  }

  private announce(news: Run[]): void {
    this.announced.fire(news);
    const name = vscode.workspace.name ?? news[0].workspace?.name ?? 'this folder';
    const action = news.length === 1 ? 'Show Run' : 'Show Runs';
    // Not modal and not focused: it waits in the corner until the user looks.
    void vscode.window.showInformationMessage(awayMessage(news, name), action).then((pick) => {
      if (pick === action) return this.show(news);
    });
  }

  /** Notes that a window of this folder is connected now (at most every SEEN_EVERY_MS). */
  private async stampSeen(force = false): Promise<void> {
    if (this.connection.state.status !== 'connected') return;
    if (!force && Date.now() - this.lastSeenWrite < SEEN_EVERY_MS) return;
    this.lastSeenWrite = Date.now();
    await this.context.workspaceState.update(SEEN_KEY, new Date().toISOString());
  }

  dispose(): void {
    clearInterval(this.timer);
    void this.stampSeen(true);
    for (const d of this.disposables) d.dispose();
    this.announced.dispose();
  }
}
