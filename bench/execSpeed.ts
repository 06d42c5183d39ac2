// Where a warm exec's time goes, and before/after pairs on a busy machine:
// `tsx bench/execSpeed.ts [mainA.js [mainB.js]]` starts one server per bundle
// (the same config as `npm run bench`), then measures them in alternating
// rounds so both see the same load, beside the floor pieces measured in the
// same rounds (a bare HTTP round trip, an authenticated route with no
// sandbox, a pipe echo, fork+exec of the sandbox's shell on the host).
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { start, stop, type Started } from './benchServer';
import { BenchClient } from './httpClient';
import { cpuNow } from './processCpu';
import { percentile, timeEach } from './stats';

/** The pause before each paced exec. */
const PAUSE_MS = 20;

const p50 = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

/** A write to a child's stdin pipe echoed back on its stdout (what a runner frame crosses, twice). */
async function pipeEcho(n: number): Promise<number[]> {
  const cat = spawn('cat', [], { stdio: ['pipe', 'pipe', 'ignore'] });
  let waiter: (() => void) | undefined;
  cat.stdout!.on('data', () => waiter?.());
  const msg = Buffer.alloc(32, 1);
  const out = await timeEach(n, () => new Promise<void>((r) => ((waiter = r), cat.stdin!.write(msg))));
  cat.kill();
  return out;
}

/**
 * The same event stream as exec/stream's, written by a bare node:http server
 * from one pre-encoded 64 KiB event as fast as the client takes it: what the
 * transport and the bench's own SSE client cost, with no sandbox and no runner.
 */
async function sseFloor(bytes: number): Promise<number> {
  const chunk = 'a'.repeat(64 * 1024);
  const event = Buffer.from(`event: chunk\ndata: ${JSON.stringify({ chunk, timestamp: Date.now() })}\n\n`);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let left = Math.ceil(bytes / chunk.length);
    const pump = () => {
      while (left > 0) {
        left--;
        if (!res.write(event)) return void res.once('drain', pump);
      }
      res.end('event: done\ndata: {}\n\n');
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = new BenchClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'none');
  let received = 0;
  const t0 = performance.now();
  await client.sse('GET', '/', undefined, (event, data) => {
    if (event === 'chunk') received += (JSON.parse(data) as { chunk: string }).chunk.length;
  });
  const mibs = received / 2 ** 20 / ((performance.now() - t0) / 1000);
  await client.close();
  server.close();
  return mibs;
}

/** fork + exec + wait of `shell -c true` from a small C program: what starting a command's shell costs at least. */
function shellSpawn(shell: string, n: number): number {
  const r = spawnSync(resolve(__dirname, '.execSpeed-spawn'), [String(n), shell, '-c', 'true'], { encoding: 'utf8' });
  return Number(/p50 ([\d.]+)/.exec(r.stdout)?.[1] ?? NaN);
}

function buildSpawnLoop(): void {
  const src = join(tmpdir(), 'af-spawnloop.c');
  writeFileSync(
    src,
    `#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
static int cmp(const void*a,const void*b){double x=*(const double*)a,y=*(const double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){(void)argc;int n=atoi(argv[1]);double*s=malloc(n*sizeof(double));
for(int i=0;i<n;i++){double t=now();pid_t p=fork();if(!p){execv(argv[2],argv+2);_exit(127);}int st;waitpid(p,&st,0);s[i]=now()-t;}
qsort(s,n,sizeof(double),cmp);printf("p50 %.3f\\n",s[n/2]);return 0;}
`,
  );
  spawnSync('gcc', ['-O2', '-o', resolve(__dirname, '.execSpeed-spawn'), src], { stdio: 'inherit' });
}

interface Sample {
  health: number[];
  info: number[];
  exec: number[];
  execInner: number[];
  execPaced: number[];
  /** CPU time per back-to-back exec (ms), by process: load-independent, unlike the wall times. */
  cpuServer: number[];
  cpuRunner: number[];
  cpuShells: number[];
  cpuClient: number[];
  /** Server CPU per GET /v1/sessions/{id} (ms): the HTTP, auth and zod part alone. */
  cpuInfoServer: number[];
  /** CPU time per MiB streamed (ms), by process. */
  streamCpuServer: number[];
  streamCpuRunner: number[];
  streamCpuShells: number[];
  streamCpuClient: number[];
  firstByte: number[];
  firstByteKept: number[];
  mbps: number[];
}

async function round(s: Started, into: Sample, n: number, streamBytes: number): Promise<void> {
  const c = s.client;
  into.health.push(p50(await timeEach(n, () => c.json('GET', '/healthz'))));
  const i0 = cpuNow(s);
  into.info.push(p50(await timeEach(n, () => c.json('GET', `/v1/sessions/${s.session}`))));
  into.cpuInfoServer.push((cpuNow(s).server - i0.server) / n);
  const inner: number[] = [];
  const cpu0 = cpuNow(s);
  into.exec.push(p50(await timeEach(n, async () => inner.push((await c.exec(s.session, 'true')).duration_ms))));
  const cpu1 = cpuNow(s);
  into.cpuServer.push((cpu1.server - cpu0.server) / n);
  into.cpuRunner.push((cpu1.runner - cpu0.runner) / n);
  into.cpuShells.push((cpu1.shells - cpu0.shells) / n);
  into.cpuClient.push((cpu1.client - cpu0.client) / n);
  into.execInner.push(p50(inner));
  // The same with a pause before each command, as an agent or a person leaves between them (the pause is not timed).
  const paced: number[] = [];
  for (let i = 0; i < Math.ceil(n / 4); i++) {
    await new Promise((r) => setTimeout(r, PAUSE_MS));
    const t0 = performance.now();
    await c.exec(s.session, 'true');
    paced.push(performance.now() - t0);
  }
  into.execPaced.push(p50(paced));
  into.firstByte.push(
    p50(
      await timeEach(Math.ceil(n / 2), () =>
        c.sse('POST', `/v1/sessions/${s.session}/exec/stream`, { cmd: 'echo hi' }, (event) => event === 'chunk'),
      ),
    ),
  );
  // The same, read to its end on a kept-alive connection (the line above closes it at the first chunk, as the bench does).
  const kept: number[] = [];
  for (let k = 0; k < Math.ceil(n / 2); k++) {
    const t0 = performance.now();
    let first = 0;
    await c.sse('POST', `/v1/sessions/${s.session}/exec/stream`, { cmd: 'echo hi' }, (event) => {
      if (event === 'chunk' && !first) first = performance.now() - t0;
    });
    kept.push(first);
  }
  into.firstByteKept.push(p50(kept));
  let received = 0;
  const c0 = cpuNow(s);
  const t0 = performance.now();
  await c.sse('POST', `/v1/sessions/${s.session}/exec/stream`, { cmd: `head -c ${streamBytes} /dev/zero | tr '\\0' a` }, (event, data) => {
    if (event === 'chunk') received += (JSON.parse(data) as { chunk: string }).chunk.length;
  });
  if (received !== streamBytes) throw new Error(`${s.label}: streamed ${received} of ${streamBytes} bytes`);
  into.mbps.push(received / 2 ** 20 / ((performance.now() - t0) / 1000));
  const c1 = cpuNow(s);
  const perMiB = received / 2 ** 20;
  into.streamCpuServer.push((c1.server - c0.server) / perMiB);
  into.streamCpuRunner.push((c1.runner - c0.runner) / perMiB);
  into.streamCpuShells.push((c1.shells - c0.shells) / perMiB);
  into.streamCpuClient.push((c1.client - c0.client) / perMiB);
}

async function main(): Promise<void> {
  const mains = process.argv.slice(2);
  if (mains.length === 0) mains.push(resolve(__dirname, '../server/dist/main.js'));
  const rounds = Number(process.env.ROUNDS ?? 5);
  const n = Number(process.env.N ?? 200);
  const streamBytes = Number(process.env.STREAM_BYTES ?? 100_000_000);
  buildSpawnLoop();
  const servers: Started[] = [];
  for (const [i, m] of mains.entries()) servers.push(await start(mains.length > 1 ? 'AB'[i] : 'server', m));
  const samples = servers.map<Sample>(() => ({
    health: [],
    info: [],
    exec: [],
    execInner: [],
    execPaced: [],
    cpuServer: [],
    cpuRunner: [],
    cpuShells: [],
    cpuClient: [],
    cpuInfoServer: [],
    streamCpuServer: [],
    streamCpuRunner: [],
    streamCpuShells: [],
    streamCpuClient: [],
    firstByte: [],
    firstByteKept: [],
    mbps: [],
  }));
  const floors = { pipe: [] as number[], bash: [] as number[], dash: [] as number[], sse: [] as number[] };
  try {
    for (const s of servers) for (let i = 0; i < 50; i++) await s.client.exec(s.session, 'true'); // warm-up
    for (let r = 0; r < rounds; r++) {
      floors.pipe.push(p50(await pipeEcho(n)));
      floors.bash.push(shellSpawn('/bin/bash', n));
      floors.dash.push(shellSpawn('/bin/sh', n));
      floors.sse.push(await sseFloor(streamBytes));
      // Alternate the order so neither server always runs first in a round.
      const order = r % 2 === 0 ? servers.map((_, i) => i) : servers.map((_, i) => servers.length - 1 - i);
      for (const i of order) await round(servers[i], samples[i], n, streamBytes);
      const line = servers.map(
        (s, i) =>
          `${s.label}: exec ${samples[i].exec[r].toFixed(3)} ms, 1st byte ${samples[i].firstByte[r].toFixed(3)} ms, ${samples[i].mbps[r].toFixed(0)} MiB/s`,
      );
      console.error(`round ${r + 1}: ${line.join(' | ')}`);
    }
  } finally {
    for (const s of servers) await stop(s);
    rmSync(resolve(__dirname, '.execSpeed-spawn'), { force: true });
  }
  const med = (xs: number[]) => p50(xs);
  const rows: [string, (x: Sample) => number[], string][] = [
    ['GET /healthz round trip (no auth, no sandbox)', (x) => x.health, 'ms'],
    ['GET /v1/sessions/{id} (auth, lookup, zod, no sandbox)', (x) => x.info, 'ms'],
    ['  server CPU per request', (x) => x.cpuInfoServer, 'ms'],
    ['warm exec round trip (`true`)', (x) => x.exec, 'ms'],
    ['  of which inside SessionManager.exec (runner round trip)', (x) => x.execInner, 'ms'],
    ['  CPU per exec: server (Node)', (x) => x.cpuServer, 'ms'],
    ['  CPU per exec: af-runner', (x) => x.cpuRunner, 'ms'],
    ["  CPU per exec: the command's shells (reaped children)", (x) => x.cpuShells, 'ms'],
    ['  CPU per exec: this client (undici)', (x) => x.cpuClient, 'ms'],
    [`warm exec, ${PAUSE_MS} ms after the previous one`, (x) => x.execPaced, 'ms'],
    ['first streamed byte (`echo hi`)', (x) => x.firstByte, 'ms'],
    ['  the same, connection kept (read to `done`)', (x) => x.firstByteKept, 'ms'],
    [`exec/stream throughput (${streamBytes / 1e6} MB)`, (x) => x.mbps, 'MiB/s'],
    ['  CPU per MiB streamed: server (Node)', (x) => x.streamCpuServer, 'ms'],
    ['  CPU per MiB streamed: af-runner', (x) => x.streamCpuRunner, 'ms'],
    ['  CPU per MiB streamed: `head | tr` (reaped children)', (x) => x.streamCpuShells, 'ms'],
    ['  CPU per MiB streamed: this client', (x) => x.streamCpuClient, 'ms'],
  ];
  console.log(`\nmedian of ${rounds} rounds' p50 (n=${n} each)\n`);
  console.log(`| measure | ${servers.map((s) => s.label).join(' | ')} |${servers.length === 2 ? ' B/A |' : ''}`);
  console.log(`|---|${servers.map(() => '---:').join('|')}|${servers.length === 2 ? '---:|' : ''}`);
  for (const [name, get, unit] of rows) {
    const v = samples.map((x) => med(get(x)));
    // The median of each round's B/A: both servers saw that minute's load.
    const ratio = v.length === 2 ? med(get(samples[1]).map((b, k) => b / get(samples[0])[k])) : undefined;
    console.log(
      `| ${name} (${unit}) | ${v.map((x) => x.toFixed(unit === 'ms' ? 3 : 0)).join(' | ')} |${ratio !== undefined ? ` ${ratio.toFixed(2)} |` : ''}`,
    );
  }
  console.log(`| floor: pipe echo to \`cat\` and back (ms) | ${med(floors.pipe).toFixed(3)} |`);
  console.log(`| floor: fork+exec+wait \`bash -c true\` on the host (ms) | ${med(floors.bash).toFixed(3)} |`);
  console.log(`| floor: fork+exec+wait \`sh -c true\` (dash) on the host (ms) | ${med(floors.dash).toFixed(3)} |`);
  console.log(`| floor: the same SSE stream from a bare node:http server to this client (MiB/s) | ${med(floors.sse).toFixed(0)} |`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
