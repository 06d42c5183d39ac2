// The runner alone, with no HTTP and no bubblewrap: `tsx bench/runnerSpeed.ts
// [af-runnerA [af-runnerB]]` starts each binary on the host (commands run as
// the caller, under the runner's seccomp filter) behind the server's own
// RunnerClient and times a command's round trip and its output's throughput,
// in alternating rounds so a before/after pair sees the same load.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { RunnerClient } from '../server/src/sandboxes/runnerProtocol';
import { childTicks, onCpuMs } from './processCpu';
import { percentile } from './stats';

const p50 = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Runner {
  label: string;
  pid: number;
  client: RunnerClient;
  stop(): void;
}

async function start(label: string, binary: string): Promise<Runner> {
  const shell = process.env.RUNNER_SHELL ?? '/bin/bash';
  const child = spawn(resolve(binary), ['--shell', shell], { stdio: ['pipe', 'pipe', 'inherit'], cwd: '/tmp' });
  const client = new RunnerClient(child.stdin, child.stdout);
  await client.ready;
  return { label, pid: child.pid!, client, stop: () => child.kill('SIGKILL') };
}

async function exec(r: Runner, cmd: string, onBytes: (n: number) => void = () => undefined): Promise<void> {
  const run = r.client.exec(cmd, {
    timeoutMs: 60_000,
    separateStderr: false,
    maxOutputBytes: 2 ** 31,
    onOutput: (_s, c) => onBytes(c.length),
  });
  await run.result;
}

async function main(): Promise<void> {
  const bins = process.argv.slice(2);
  if (bins.length === 0) bins.push(resolve(__dirname, '../server/dist/af-runner'));
  const rounds = Number(process.env.ROUNDS ?? 5);
  const n = Number(process.env.N ?? 300);
  const bytes = Number(process.env.STREAM_BYTES ?? 200_000_000);
  const runners = await Promise.all(bins.map((b, i) => start(bins.length > 1 ? 'ABCDEFGH'[i] : 'runner', b)));
  const res = runners.map(() => ({
    b2b: [] as number[],
    paced: [] as number[],
    mibs: [] as number[],
    cpuRunner: [] as number[],
    cpuShells: [] as number[],
  }));
  for (const r of runners) for (let i = 0; i < 30; i++) await exec(r, 'true');
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? runners.map((_, i) => i) : runners.map((_, i) => runners.length - 1 - i);
    for (const i of order) {
      const r = runners[i];
      const b2b: number[] = [];
      const cpu0 = { runner: onCpuMs(r.pid), shells: childTicks(r.pid) * 10 };
      for (let k = 0; k < n; k++) {
        const t0 = performance.now();
        await exec(r, 'true');
        b2b.push(performance.now() - t0);
      }
      res[i].cpuRunner.push((onCpuMs(r.pid) - cpu0.runner) / n);
      res[i].cpuShells.push((childTicks(r.pid) * 10 - cpu0.shells) / n);
      const paced: number[] = [];
      for (let k = 0; k < n / 6; k++) {
        await sleep(20);
        const t0 = performance.now();
        await exec(r, 'true');
        paced.push(performance.now() - t0);
      }
      let got = 0;
      const t0 = performance.now();
      await exec(r, `head -c ${bytes} /dev/zero | tr '\\0' a`, (k) => (got += k));
      res[i].mibs.push(got / 2 ** 20 / ((performance.now() - t0) / 1000));
      res[i].b2b.push(p50(b2b));
      res[i].paced.push(p50(paced));
    }
    console.error(
      `round ${round + 1}: ${runners.map((r, i) => `${r.label} ${res[i].b2b[round].toFixed(3)} / ${res[i].paced[round].toFixed(3)} ms, ${res[i].mibs[round].toFixed(0)} MiB/s`).join(' | ')}`,
    );
  }
  for (const r of runners) r.stop();
  console.log(`\nrunner alone, median of ${rounds} rounds' p50\n`);
  const others = runners.slice(1);
  console.log(`| measure | ${runners.map((r) => r.label).join(' | ')} |${others.map((r) => ` ${r.label}/A |`).join('')}`);
  console.log(`|---|${runners.map(() => '---:').join('|')}|${others.map(() => '---:|').join('')}`);
  const rows: [string, (x: (typeof res)[0]) => number[], number][] = [
    ['`true`, back to back (ms)', (x) => x.b2b, 3],
    ['`true`, 20 ms after the previous (ms)', (x) => x.paced, 3],
    [`output throughput, ${bytes / 1e6} MB (MiB/s)`, (x) => x.mibs, 0],
    ['CPU per back-to-back `true`: af-runner (ms)', (x) => x.cpuRunner, 3],
    ["CPU per back-to-back `true`: the command's shells (ms)", (x) => x.cpuShells, 3],
  ];
  for (const [name, get, digits] of rows) {
    const v = res.map((x) => p50(get(x)));
    // Each round's ratio to A, then their median: both saw the same minute's load.
    const ratios = res.slice(1).map((x) => p50(get(x).map((y, k) => y / get(res[0])[k])));
    console.log(`| ${name} | ${v.map((x) => x.toFixed(digits)).join(' | ')} |${ratios.map((q) => ` ${q.toFixed(2)} |`).join('')}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
