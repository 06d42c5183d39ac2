// Egress through the server's proxy beside the same download with no sandbox:
// throughput of a 100 MiB download from loopback (plain HTTP forwarded, and a
// CONNECT tunnel as HTTPS uses) and time to first byte of a small answer on a
// new connection each time. curl measures both sides, in the sandbox and on
// the host. Goals (issue 16): overhead under 10% of throughput and under 2 ms
// per connection. Beside them, the proxy's own CPU time per GiB through each
// path (the server process's, from /proc): on a shared machine throughput
// follows the neighbours' load, CPU per byte much less, so it is what shows
// a change to the proxy. `tsx bench/egressBench.ts` runs it alone.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { REPO_ROOT, startServer } from '../test/helpers/serverProcess';
import { curlLoop, parseCurlLoop, shell } from './curlTiming';
import { bareRelays, sandboxRuntimeProxy } from './egressPeers';
import { BenchClient } from './httpClient';
import { summarize, table, type Row } from './stats';

const MiB = 1024 * 1024;
const DOWNLOAD = 100 * MiB;
const CHUNK = Buffer.alloc(MiB, 0x61);

/** /big streams 100 MiB; anything else answers "ok". */
async function startOrigin(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.url !== '/big') return void res.end('ok\n');
    res.writeHead(200, { 'content-length': DOWNLOAD });
    let sent = 0;
    const pump = () => {
      while (sent < DOWNLOAD) {
        sent += CHUNK.length;
        if (!res.write(CHUNK)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A process's CPU time so far (user + system), seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime, in clock ticks (100 a second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs `fn` and gives its result with the CPU seconds `pid` spent meanwhile. */
async function withCpu<T>(pid: number, fn: () => Promise<T>): Promise<{ result: T; cpu: number }> {
  const before = cpuSeconds(pid);
  const result = await fn();
  return { result, cpu: cpuSeconds(pid) - before };
}

export interface EgressBench {
  rows: Row[];
  throughputOverhead?: number;
  firstByteOverheadMs?: number;
  /** The least two bare relays (the design's two hops) cost, as a share of the direct throughput. */
  twoHopFloorOverhead?: number;
  /** Our worse path's throughput over sandbox-runtime's worse path's. */
  vsSandboxRuntime?: number;
}

export async function egressBench(): Promise<EgressBench> {
  const origin = await startOrigin();
  const p = origin.port;
  const server = await startServer({
    config: {
      pool: { size: 0 },
      network: { allow: [`origin.test:${p}`], resolve: { 'origin.test': '127.0.0.1' }, allowPrivate: [`127.0.0.1:${p}`] },
    },
  });
  const c = new BenchClient(server.url, server.apiKey);
  try {
    const created = await c.json('POST', '/v1/sessions', { network: { mode: 'allowlist', allow: [`origin.test:${p}`] } });
    if (created.status !== 201) throw new Error(`egress bench: cannot create a session: ${JSON.stringify(created.body)}`);
    const inSandbox = async (cmd: string): Promise<string> => {
      const r = await c.json('POST', `/v1/sessions/${created.body.id}/exec`, { cmd, timeout_ms: 600_000 });
      if (r.status !== 200) throw new Error(`egress bench: exec failed: ${JSON.stringify(r.body)}`);
      return r.body.output;
    };
    const onHost = (cmd: string) => shell(cmd);

    const big = `http://origin.test:${p}/big`;
    const small = `http://origin.test:${p}/small`;
    const pin = `--resolve origin.test:${p}:127.0.0.1`;
    // One unmeasured pass each: the origin's and the proxy's first connection.
    await inSandbox(curlLoop(1, big));
    await onHost(curlLoop(1, big, pin));

    const direct = parseCurlLoop(await onHost(curlLoop(5, big, pin)));
    // The sandbox's own share of the machine, without the proxy: a server inside it, over its loopback.
    const local = parseCurlLoop(
      await inSandbox(
        `head -c ${DOWNLOAD} /dev/zero > /tmp/big && (cd /tmp && exec python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 &) && sleep 1 && ${curlLoop(5, 'http://127.0.0.1:8000/big')}; rm -f /tmp/big`,
      ),
    );
    const serverPid = server.child.pid!;
    const forwardedRun = await withCpu(serverPid, () => inSandbox(curlLoop(5, big)));
    const tunnelledRun = await withCpu(serverPid, () => inSandbox(curlLoop(5, big, '-p')));
    const forwarded = parseCurlLoop(forwardedRun.result);
    const tunnelled = parseCurlLoop(tunnelledRun.result);
    const GiB = (5 * DOWNLOAD) / (1024 * MiB);
    const directFirst = parseCurlLoop(await onHost(curlLoop(100, small, pin)));
    const proxyFirst = parseCurlLoop(await inSandbox(curlLoop(100, small)));
    const tunnelFirst = parseCurlLoop(await inSandbox(curlLoop(100, small, '-p')));

    const rows = [
      summarize('egress: 100 MiB from loopback, direct on the host (no sandbox)', direct.mbps, 'MiB/s'),
      summarize('egress: 100 MiB inside the sandbox over its own loopback (no proxy)', local.mbps, 'MiB/s', 'python3 http.server'),
      summarize('egress: 100 MiB through the proxy, plain HTTP', forwarded.mbps, 'MiB/s', 'sandbox → relay → proxy → origin'),
      summarize('egress: 100 MiB through the proxy, CONNECT tunnel', tunnelled.mbps, 'MiB/s', 'as HTTPS goes (passed through)'),
      { name: "egress: the proxy's CPU per GiB, plain HTTP", n: 1, p50: forwardedRun.cpu / GiB, unit: 's/GiB', note: 'server process' },
      { name: "egress: the proxy's CPU per GiB, CONNECT tunnel", n: 1, p50: tunnelledRun.cpu / GiB, unit: 's/GiB', note: 'server process' },
      summarize('egress: first byte, new connection, direct', directFirst.ttfbMs, 'ms'),
      summarize('egress: first byte, new connection, through the proxy', proxyFirst.ttfbMs, 'ms', 'policy + lookup + connect'),
      summarize('egress: first byte, new connection, CONNECT tunnel', tunnelFirst.ttfbMs, 'ms'),
    ];
    const ours = Math.min(rows[2]!.p50!, rows[3]!.p50!);
    const throughputOverhead = 1 - ours / rows[0]!.p50!;
    const firstByteOverheadMs = Math.max(rows[7]!.p50!, rows[8]!.p50!) - rows[6]!.p50!;

    // The floor and the peer, from the same origin in the same run.
    const floor = [...(await bareRelays(p, 1, '/big', 5)), ...(await bareRelays(p, 2, '/big', 5))];
    const peer = await sandboxRuntimeProxy(p, REPO_ROOT, 5, 100);
    rows.push(...floor, ...peer);
    const twoHops = floor[1]!.p50;
    const peerWorse = peer[0]!.p50 !== undefined && peer[1]!.p50 !== undefined ? Math.min(peer[0]!.p50, peer[1]!.p50) : undefined;
    return {
      rows,
      throughputOverhead,
      firstByteOverheadMs,
      twoHopFloorOverhead: twoHops === undefined ? undefined : 1 - twoHops / rows[0]!.p50!,
      vsSandboxRuntime: peerWorse === undefined ? undefined : ours / peerWorse,
    };
  } finally {
    await c.close();
    await server.dispose();
    origin.server.close();
  }
}

/** What the overhead is against: the floor two bare relays set here, and the peer. */
export function egressContext(r: EgressBench): string[] {
  const lines: string[] = [];
  if (r.twoHopFloorOverhead !== undefined)
    lines.push(
      `- the floor: two bare relays (socat, no policy) cost ${(r.twoHopFloorOverhead * 100).toFixed(1)}% of the direct throughput here`,
    );
  if (r.vsSandboxRuntime !== undefined)
    lines.push(`- our proxy vs sandbox-runtime's (worse path each, p50): ${r.vsSandboxRuntime.toFixed(2)}× the throughput`);
  return lines;
}

if (require.main === module) {
  egressBench()
    .then((r) => {
      console.log(table(r.rows));
      console.log(`\n- proxy throughput overhead (worse of the two paths, p50): ${(r.throughputOverhead! * 100).toFixed(1)}% (goal < 10%)`);
      console.log(`- proxy first-byte overhead per connection (p50): ${r.firstByteOverheadMs!.toFixed(2)} ms (goal < 2 ms)`);
      console.log(egressContext(r).join('\n'));
    })
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
