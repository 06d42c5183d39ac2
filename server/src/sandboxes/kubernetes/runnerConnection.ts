// The connection to a pod's af-runner: a byte stream to it (TCP to the pod's
// IP, or agent-sandbox's router's tunnel), the session's token as the first
// line, then the runner's frames as over stdio. A runner that drops the
// connection without a hello has not seen the token yet (the kubelet
// refreshes a warm pod's downward-API file a little later), so the attempt is
// repeated until the deadline.
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { RunnerClient } from '../runnerProtocol';
import { SandboxError } from '../sandboxError';
import { withTimeout } from '../withTimeout';

export interface RunnerEndpoint {
  /** Opens a fresh byte stream to the runner. */
  dial: (timeoutMs: number) => Promise<Duplex>;
  /** Where the runner is, for errors ("10.1.2.3:7070", "sandbox x through the router at ..."). */
  where: string;
  token: string;
  /** What follows the token on its line (the gateway relay names the server's address). */
  lineSuffix?: () => Promise<string>;
}

/** TCP straight to the pod's IP. */
export function tcpDial(host: string, port: number): (timeoutMs: number) => Promise<Duplex> {
  return (timeoutMs) =>
    new Promise((resolve, reject) => {
      const socket = connect({ host, port, timeout: timeoutMs });
      socket.setNoDelay(true);
      socket.once('timeout', () => socket.destroy(new Error('timed out')));
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.setTimeout(0);
        socket.off('error', reject);
        resolve(socket);
      });
    });
}

async function attempt(ep: RunnerEndpoint, timeoutMs: number): Promise<{ socket: Duplex; runner: RunnerClient }> {
  const socket = await ep.dial(timeoutMs);
  return new Promise((resolve, reject) => {
    const fail = (e: Error) => {
      socket.destroy();
      reject(e);
    };
    socket.once('error', fail);
    const runner = new RunnerClient(socket, socket);
    const start = async () => {
      const suffix = ep.lineSuffix ? await ep.lineSuffix() : '';
      socket.write(`${ep.token}${suffix}\n`);
      await withTimeout(runner.ready, timeoutMs);
    };
    socket.once('close', () => fail(new Error('the runner closed the connection')));
    start().then(
      () => {
        socket.off('error', fail);
        resolve({ socket, runner });
      },
      (e: Error) => fail(e),
    );
  });
}

export async function connectRunner(ep: RunnerEndpoint, deadlineMs: number): Promise<{ socket: Duplex; runner: RunnerClient }> {
  let lastError = '';
  while (Date.now() < deadlineMs) {
    try {
      return await attempt(ep, Math.min(5000, Math.max(1, deadlineMs - Date.now())));
    } catch (e) {
      if (e instanceof SandboxError) throw e; // final: retrying changes nothing
      lastError = (e as Error).message;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new SandboxError('START_FAILED', `cannot reach the sandbox's runner at ${ep.where}: ${lastError || 'timed out'}`);
}
