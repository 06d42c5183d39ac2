// What every sandbox does the same way whatever contains it: commands and
// files go through its af-runner. Providers add how the sandbox is measured
// and torn down.
import type { RunnerClient, RunnerExecOptions } from './runnerProtocol';
import type { RunningExec, Sandbox, SandboxUsage } from './sandboxProvider';

export abstract class RunnerSandbox implements Sandbox {
  abstract readonly exited: Promise<void>;

  constructor(protected readonly runner: RunnerClient) {}

  exec(cmd: string, opts: RunnerExecOptions): RunningExec {
    return this.runner.exec(cmd, opts);
  }

  kill(execId: number): void {
    if (!this.runner.closed) this.runner.kill(execId);
  }

  readFile(absPath: string, maxBytes: number) {
    return this.runner.readFile(absPath, maxBytes);
  }

  writeFile(absPath: string, data: Buffer): Promise<void> {
    return this.runner.writeFile(absPath, data);
  }

  abstract usage(): Promise<SandboxUsage>;
  abstract destroy(): Promise<void>;
}
