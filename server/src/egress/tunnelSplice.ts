// The bytes of a CONNECT tunnel, both ways, untouched. Downloads are read
// from the upstream socket straight into buffers handed to the sandbox's side
// (net's onread): reads of up to 256 KiB rather than 64 KiB, and the buffer
// reused whenever the kernel took the whole chunk at once, so a download costs
// the proxy a fraction of the callbacks, allocations and system calls that
// stream piping does. Uploads, smaller, are piped.
import type { OnReadOpts, Socket } from 'node:net';

const READ_SIZE = 256 * 1024;

/**
 * The upstream socket's onread for a tunnel whose sandbox side is `client`;
 * `counted` is told of each chunk (the byte limit). Set on the socket as it is made.
 */
export function tunnelDownload(client: Socket, counted: () => void): { onread: OnReadOpts; attach(upstream: Socket): void } {
  let upstream: Socket | undefined;
  let spare: Buffer | undefined;
  const onread: OnReadOpts = {
    buffer: () => spare ?? Buffer.allocUnsafe(READ_SIZE),
    callback: (n, buf) => {
      const chunk = (buf as Buffer).subarray(0, n);
      spare = undefined;
      if (client.destroyed) return false;
      const flowing = client.write(chunk);
      // Written through to the kernel already (nothing queued): the buffer is free for the next read.
      if (client.writableLength === 0) spare = buf as Buffer;
      counted();
      if (flowing) return true;
      client.once('drain', () => upstream?.resume());
      return false;
    },
  };
  return { onread, attach: (s) => (upstream = s) };
}

/** Both ways until either side ends; the idle timeout applies to each side. */
export function spliceTunnel(client: Socket, upstream: Socket, idleTimeoutMs: number): void {
  // The sandbox may have hung up while the name was looked up and the connection made.
  if (client.destroyed) return void upstream.destroy();
  client.setTimeout(idleTimeoutMs, () => client.destroy());
  client.pipe(upstream);
  // The download's end (onread sees no 'end' of its own: the socket's is still emitted).
  upstream.once('end', () => client.end());
  client.once('close', () => upstream.destroy());
  upstream.once('close', () => client.destroy());
}
