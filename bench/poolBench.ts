// The bubblewrap warm pool's effect on starting a session: create plus first
// command, cold (pool.size 0) against pooled, beside raw `bwrap /bin/true`
// in the same run. `npx tsx bench/poolBench.ts` (after `node scripts/build.mjs`).
// Pooled is measured two ways: with a pause between sessions long enough for
// the pool to refill (a claim every time), and back to back (the pool drains
// and later sessions start cold while it refills behind them).
import { cpus } from 'node:os';
import { startServer, type ServerProcess } from '../test/helpers/serverProcess';
import { BenchClient } from './httpClient';
import { rawBwrap } from './peers';
import { summarize, table, timeEach, type Row } from './stats';

const SESSIONS = 60;
const POOL_SIZE = 4;
/** Long enough for a claimed slot to be replaced (a bwrap start, ~10 to 20 ms here) and the deleted session torn down. */
const PAUSE_MS = 200;

async function createFirst(c: BenchClient, name: string, pauseMs: number): Promise<Row[]> {
  const create: number[] = [];
  const first: number[] = [];
  const both: number[] = [];
  await timeEach(SESSIONS, async () => {
    const t0 = performance.now();
    const id = await c.createSession();
    const t1 = performance.now();
    await c.exec(id, 'true');
    const t2 = performance.now();
    create.push(t1 - t0);
    first.push(t2 - t1);
    both.push(t2 - t0);
    // Deleted and paused outside the clock: the next sample starts on a quiet server.
    queueMicrotask(() => void c.json('DELETE', `/v1/sessions/${id}`));
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
  });
  return [
    summarize(`${name}: create + first command (\`true\`)`, both),
    summarize(`${name}: of which create`, create),
    summarize(`${name}: of which first command`, first),
  ];
}

async function measure(poolSize: number, name: string, pauseMs: number): Promise<Row[]> {
  let server: ServerProcess | undefined;
  try {
    server = await startServer({ config: { pool: { size: poolSize }, maxSessions: 300 } });
    const c = new BenchClient(server.url, server.apiKey);
    // Warm-up: page faults in bwrap and the runner, the server's JIT.
    for (let i = 0; i < 5; i++) {
      const id = await c.createSession();
      await c.exec(id, 'true');
      await c.json('DELETE', `/v1/sessions/${id}`);
      await new Promise((r) => setTimeout(r, PAUSE_MS));
    }
    const rows = await createFirst(c, name, pauseMs);
    await c.pool.close();
    return rows;
  } finally {
    await server?.dispose();
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  rows.push(...(await measure(0, 'cold (pool.size 0)', PAUSE_MS)));
  rows.push(...(await measure(POOL_SIZE, `pooled (pool.size ${POOL_SIZE}), refilled between sessions`, PAUSE_MS)));
  rows.push(...(await measure(POOL_SIZE, `pooled (pool.size ${POOL_SIZE}), back to back`, 0)));
  const floor = await rawBwrap(100);
  rows.push(floor);
  console.log(
    `\nAstraForge pool bench — ${new Date().toISOString()} — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}\n`,
  );
  console.log(table(rows));
  const p50 = (prefix: string) => rows.find((r) => r.name.startsWith(prefix))!.p50!;
  const cold = p50('cold (pool.size 0): create + first');
  const pooled = p50(`pooled (pool.size ${POOL_SIZE}), refilled between sessions: create + first`);
  console.log('\nRatios (p50):');
  console.log(`- cold create + first command vs raw bwrap /bin/true: ${(cold / floor.p50!).toFixed(2)}×`);
  console.log(`- pooled create + first command vs raw bwrap /bin/true: ${(pooled / floor.p50!).toFixed(2)}×`);
  console.log(`- pooled vs cold: ${(pooled / cold).toFixed(2)}×`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
