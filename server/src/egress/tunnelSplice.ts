// The bytes of a CONNECT tunnel, both ways, untouched. Downloads are read
// from the upstream socket straight into buffers handed to the sandbox's side
// (net's onread): reads of up to 256 KiB rather than 64 KiB, into a few
// buffers used again once the kernel has taken their bytes, so a download
// costs the proxy a fraction of the callbacks, allocations (and the garbage
// collections they bring) and system calls that stream piping does. Uploads,
// smaller, are piped.
import type { OnReadOpts, Socket } from 'node:net';

const READ_SIZE = 256 * 1024;
/** Buffers kept per tunnel for the next reads: enough for the writes a full socket leaves pending. */
const POOL = 4;

/**
 * The upstream socket's onread for a tunnel whose sandbox side is `client`;
 * `counted` is told of each chunk (the byte limit). Set on the socket as it is made.
 */
export function tunnelDownload(client: Socket, counted: () => void): { onread: OnReadOpts; attach(upstream: Socket): void } {
  let upstream: Socket | undefined;
  const free: Buffer[] = [];
  const onread: OnReadOpts = {
    buffer: () => free.pop() ?? Buffer.allocUnsafe(READ_SIZE),
    callback: (n, buf) => {
      if (client.destroyed) return false;
      const b = buf as Buffer;
      // Once written the bytes are the kernel's: the buffer can take the next read.
      const flowing = client.write(b.subarray(0, n), (err) => {
        if (!err && free.length < POOL) free.push(b);
      });
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
