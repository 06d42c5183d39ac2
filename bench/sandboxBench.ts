// The sandbox API's speed: session creation, first command, warm exec,
// streaming latency and throughput, and what idle sessions cost in memory.
import { readdirSync, readFileSync } from 'node:fs';
import type { BenchClient } from './httpClient';
import { summarize, timeEach, type Row } from './stats';

function rss(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Memory (PSS: shared pages split among their users) of every process running as a sandbox uid (200000 and up). */
function sandboxRss(): { bytes: number; processes: number } {
  let bytes = 0;
  let processes = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      if (uid < 200_000) continue;
      processes++;
      const rollup = readFileSync(`/proc/${name}/smaps_rollup`, 'utf8');
      bytes += Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) * 1024;
    } catch {
      /* exited */
    }
  }
  return { bytes, processes };
}

export interface SessionTimings {
  create: Row;
  createFirst: Row;
  warm: Row;
  /** The session the warm execs ran in, still open. */
  warmSession: string;
}

/** Session creation, creation plus a first command, and warm exec round trips, for any provider's server. */
export async function sessionTimings(
  c: BenchClient,
  opts: { prefix?: string; warmups: number; sessions: number; execWarmups: number; execs: number },
): Promise<SessionTimings> {
  const label = (name: string) => `${opts.prefix ?? ''}${name}`;
  for (let i = 0; i < opts.warmups; i++) await c.json('DELETE', `/v1/sessions/${await c.createSession()}`);
  const created: string[] = [];
  const create = summarize(label('create a session'), await timeEach(opts.sessions, async () => created.push(await c.createSession())));
  for (const id of created.splice(0)) await c.json('DELETE', `/v1/sessions/${id}`);
  const createFirst = summarize(
    label('create + first command (`true`)'),
    await timeEach(opts.sessions, async () => {
      const id = await c.createSession();
      await c.exec(id, 'true');
      created.push(id);
    }),
  );
  for (const id of created.splice(0)) await c.json('DELETE', `/v1/sessions/${id}`);
  const warmSession = await c.createSession();
  for (let i = 0; i < opts.execWarmups; i++) await c.exec(warmSession, 'true');
  const warm = summarize(label('warm exec round trip (`true`)'), await timeEach(opts.execs, () => c.exec(warmSession, 'true')));
  return { create, createFirst, warm, warmSession };
}

export async function sandboxBench(
  c: BenchClient,
  serverPid: number,
): Promise<{ rows: Row[]; warmExecP50: number; createFirstP50: number }> {
  const rows: Row[] = [];

  // warm-up: the first sessions pay for page faults in bwrap and the runner
  const { create, createFirst, warm, warmSession: id } = await sessionTimings(c, { warmups: 5, sessions: 50, execWarmups: 30, execs: 500 });
  rows.push(create, createFirst, warm);

  rows.push(
    summarize(
      'first streamed byte (`echo hi`)',
      await timeEach(200, () => c.sse('POST', `/v1/sessions/${id}/exec/stream`, { cmd: 'echo hi' }, (event) => event === 'chunk')),
    ),
  );

  // The row above closes the connection at the first chunk (its time includes the teardown
  // and the next request's new connection); a client that reads to `done` keeps it.
  const kept: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    let first = 0;
    await c.sse('POST', `/v1/sessions/${id}/exec/stream`, { cmd: 'echo hi' }, (event) => {
      if (event === 'chunk' && !first) first = performance.now() - t0;
    });
    kept.push(first);
  }
  rows.push(summarize('first streamed byte (`echo hi`), connection kept', kept));

  const total = 200_000_000;
  let received = 0;
  const t0 = performance.now();
  await c.sse('POST', `/v1/sessions/${id}/exec/stream`, { cmd: `head -c ${total} /dev/zero | tr '\\0' a` }, (event, data) => {
    if (event === 'chunk') received += (JSON.parse(data) as { chunk: string }).chunk.length;
  });
  const secs = (performance.now() - t0) / 1000;
  rows.push({
    name: 'streaming throughput (200 MB through exec/stream)',
    n: 1,
    p50: received / 1e6 / secs,
    unit: 'MB/s',
    note: `${(received / 1e6).toFixed(0)} MB in ${secs.toFixed(2)} s`,
  });
  await c.json('DELETE', `/v1/sessions/${id}`);

  const serverBefore = rss(serverPid);
  const sandboxesBefore = sandboxRss();
  const idle: string[] = [];
  for (let i = 0; i < 100; i++) idle.push(await c.createSession());
  await new Promise((r) => setTimeout(r, 500));
  const sandboxesAfter = sandboxRss();
  const serverGrowth = rss(serverPid) - serverBefore;
  const sandboxBytes = sandboxesAfter.bytes - sandboxesBefore.bytes;
  const totalMiB = (sandboxBytes + serverGrowth) / 2 ** 20;
  rows.push({
    name: '100 idle sessions: memory',
    n: 100,
    p50: totalMiB,
    unit: 'MiB total',
    note: `${(totalMiB / 100).toFixed(2)} MiB per session: sandboxes ${(sandboxBytes / 2 ** 20).toFixed(0)} MiB PSS in ${sandboxesAfter.processes - sandboxesBefore.processes} processes, server +${(serverGrowth / 2 ** 20).toFixed(0)} MiB`,
  });
  for (const s of idle) await c.json('DELETE', `/v1/sessions/${s}`);

  return { rows, warmExecP50: warm.p50!, createFirstP50: createFirst.p50! };
}
