// The connection to a pod's af-runner: TCP to the pod's IP, the session's
// token as the first line, then the runner's frames as over stdio. A runner
// that drops the connection without a hello has not seen the token yet (the
// kubelet refreshes a warm pod's downward-API file a little later), so the
// attempt is repeated until the deadline.
import { connect, type Socket } from 'node:net';
import { RunnerClient } from '../runnerProtocol';
import { SandboxError } from '../sandboxError';
import { withTimeout } from '../withTimeout';

export interface RunnerEndpoint {
  host: string;
  port: number;
  token: string;
  /** What follows the token on its line, decided once connected (the gateway relay names the server's address). */
  lineSuffix?: (socket: Socket) => Promise<string>;
}

function attempt(ep: RunnerEndpoint, timeoutMs: number): Promise<{ socket: Socket; runner: RunnerClient }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: ep.host, port: ep.port });
    socket.setNoDelay(true);
    const fail = (e: Error) => {
      socket.destroy();
      reject(e);
    };
    socket.once('error', fail);
    socket.once('connect', async () => {
      const runner = new RunnerClient(socket, socket);
      let suffix = '';
      try {
        suffix = ep.lineSuffix ? await ep.lineSuffix(socket) : '';
      } catch (e) {
        return fail(e as Error);
      }
      socket.write(`${ep.token}${suffix}\n`);
      withTimeout(runner.ready, timeoutMs).then(
        () => {
          socket.off('error', fail);
          resolve({ socket, runner });
        },
        (e: Error) => fail(e),
      );
      socket.once('close', () => fail(new Error('the runner closed the connection')));
    });
  });
}

export async function connectRunner(ep: RunnerEndpoint, deadlineMs: number): Promise<{ socket: Socket; runner: RunnerClient }> {
  let lastError = '';
  while (Date.now() < deadlineMs) {
    try {
      return await attempt(ep, Math.min(5000, Math.max(1, deadlineMs - Date.now())));
    } catch (e) {
      lastError = (e as Error).message;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new SandboxError('START_FAILED', `cannot reach the sandbox's runner at ${ep.host}:${ep.port}: ${lastError || 'timed out'}`);
}
