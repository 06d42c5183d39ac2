// The server's side of af-mounter (server/runner/af-mounter.c): one resident
// helper process, requests answered in order, one line each.
import { spawn, type ChildProcess } from 'node:child_process';

interface Waiting {
  resolve: () => void;
  reject: (e: Error) => void;
}

export class PoolMounter {
  private readonly child: ChildProcess;
  private readonly waiting: Waiting[] = [];
  private buffered = '';
  private gone: Error | undefined;

  /** Slots must be inside `slotRoot`, workspaces inside `workspaceRoot`: the helper refuses anything else. */
  constructor(binary: string, slotRoot: string, workspaceRoot: string) {
    this.child = spawn(binary, [slotRoot, workspaceRoot], { stdio: ['pipe', 'pipe', 'ignore'], env: {}, cwd: '/' });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (d: string) => this.onData(d));
    this.child.stdin!.on('error', () => undefined);
    this.child.once('error', (e) => this.fail(new Error(`af-mounter: ${e.message}`)));
    this.child.once('exit', () => this.fail(new Error('af-mounter has exited')));
    // It must not keep the server alive, nor outlive it.
    this.child.unref();
  }

  /** Makes a slot folder a shared mount point, so what is later mounted on it reaches the sandbox. */
  prepare(slot: string): Promise<void> {
    return this.request(['prepare', slot]);
  }

  /** Mounts a workspace folder on a slot (nosuid, nodev), and so on the /workspace of the sandbox started on it. */
  attach(workspace: string, slot: string): Promise<void> {
    return this.request(['attach', workspace, slot]);
  }

  /** Unmounts whatever is on a slot and the slot itself. */
  detach(slot: string): Promise<void> {
    return this.request(['detach', slot]);
  }

  close(): void {
    this.child.stdin?.end();
  }

  private request(fields: string[]): Promise<void> {
    if (this.gone) return Promise.reject(this.gone);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.child.stdin!.write(fields.map((f) => `${f}\0`).join(''));
    });
  }

  private onData(d: string): void {
    this.buffered += d;
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      const w = this.waiting.shift();
      if (!w) continue;
      if (line === 'ok') w.resolve();
      else w.reject(new Error(`af-mounter: ${line.replace(/^err /, '')}`));
    }
  }

  private fail(e: Error): void {
    this.gone ??= e;
    for (const w of this.waiting.splice(0)) w.reject(e);
  }
}
