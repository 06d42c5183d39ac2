// How a server that ended before it was ready reads: its exit code (the
// contract's ServerExit says which codes mean what) and its own reason, taken
// from its output. The test launcher reports a failed start with it.
import { ServerExit } from '@astraforge/contract/serverReady';

/** The server process ended before it printed its ready line. */
export class ServerExitedEarly extends Error {
  constructor(
    readonly exitCode: number | null,
    reason: string,
  ) {
    super(`the server exited (code ${exitCode}) before it was ready: ${reason}`);
  }

  /** Another server holds the data folder: a launcher may connect to that one instead. */
  get dataDirInUse(): boolean {
    return this.exitCode === ServerExit.dataDirInUse;
  }
}

/** The server's own reason from its output, without the stack trace under it. */
export function whyItFailed(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('at ') && !l.startsWith('{'));
  const reason = lines.find((l) => l.includes('failed to start:')) ?? lines[lines.length - 1] ?? 'no output';
  return reason.replace(/^.*failed to start:\s*/, '').replace(/^Error:\s*/, '');
}
