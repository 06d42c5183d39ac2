// curl as the measuring client of the egress benchmarks: a shell loop of
// calls, each printing its time to first byte and its download speed, run
// on the host or under a wrapper (a peer's sandbox).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const MiB = 1024 * 1024;

/** A shell loop of curl calls printing one "<time_starttransfer s> <speed_download B/s>" line each. */
export function curlLoop(n: number, url: string, extra = ''): string {
  return `for i in $(seq ${n}); do curl -s ${extra} -o /dev/null -w '%{time_starttransfer} %{speed_download}\\n' '${url}'; done`;
}

/** The loop's lines as first-byte times (ms) and speeds (MiB/s). */
export function parseCurlLoop(lines: string): { ttfbMs: number[]; mbps: number[] } {
  const rows = lines
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((r) => r.length === 2 && r.every(Number.isFinite));
  return { ttfbMs: rows.map((r) => r[0]! * 1000), mbps: rows.map((r) => r[1]! / MiB) };
}

/**
 * Runs a shell command on the host (or, with `wrapper`, as `wrapper... sh -c
 * command`) and gives its output. Asynchronous: the origin being measured
 * serves from this very process.
 */
export async function shell(cmd: string, wrapper: string[] = []): Promise<string> {
  const [file, ...args] = [...wrapper, 'sh', '-c', cmd];
  return (await promisify(execFile)(file!, args, { encoding: 'utf8', maxBuffer: 16 * MiB })).stdout;
}
