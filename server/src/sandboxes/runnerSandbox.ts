// What every sandbox does the same way whatever contains it: commands and
// files go through its af-runner. Providers add how the sandbox is measured
// and torn down.
import { createReadStream } from 'node:fs';
import type { RunnerClient, RunnerExecOptions } from './runnerProtocol';
import type { SandboxError } from './sandboxError';
import type { RunningExec, Sandbox, SandboxUsage } from './sandboxProvider';

/** What an upload holds in memory at once, in the server and in the runner. */
const WRITE_CHUNK_BYTES = 1024 * 1024;

export abstract class RunnerSandbox implements Sandbox {
  abstract readonly exited: Promise<void>;
  private brokeProtocol: SandboxError | undefined;

  constructor(protected readonly runner: RunnerClient) {
    // A runner that breaks the protocol is compromised or broken: nothing it says can be trusted again.
    runner.onProtocolError((err) => {
      this.brokeProtocol = err;
      void this.destroy().catch(() => undefined);
    });
  }

  get failure(): SandboxError | undefined {
    return this.brokeProtocol;
  }

  exec(cmd: string, opts: RunnerExecOptions): RunningExec {
    return this.runner.exec(cmd, opts);
  }

  kill(execId: number): void {
    if (!this.runner.closed) this.runner.kill(execId);
  }

  enforceQuota(message: string): void {
    if (!this.runner.closed) this.runner.enforceQuota(message);
  }

  readFile(absPath: string, maxBytes: number) {
    return this.runner.readFile(absPath, maxBytes);
  }

  writeFile(absPath: string, data: Buffer): Promise<void> {
    return this.runner.writeFile(absPath, data);
  }

  async writeFileFromHost(absPath: string, hostFile: string): Promise<void> {
    await this.runner.writeFileChunked(absPath, createReadStream(hostFile, { highWaterMark: WRITE_CHUNK_BYTES }));
  }

  abstract usage(): Promise<SandboxUsage>;
  abstract destroy(): Promise<void>;
}
