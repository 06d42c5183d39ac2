// A server started from a given bundle (server/dist/main.js or a copy of an
// older build) with the same config as \`npm run bench\`, and one session on it:
// what the before/after drivers measure side by side.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findReadyLine } from '@astraforge/contract/serverReady';
import { BenchClient } from './httpClient';

export interface Started {
  label: string;
  child: ChildProcess;
  client: BenchClient;
  dataDir: string;
  session: string;
  runner?: number;
}

/** SERVER_NODE_ARGS (space-separated) go to node before the bundle, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`. */
export async function start(label: string, main: string): Promise<Started> {
  const dataDir = mkdtempSync(join(tmpdir(), 'af-speed-'));
  writeFileSync(join(dataDir, 'config.json'), JSON.stringify({ maxOutputBytes: 512 * 1024 * 1024, maxSessions: 300 }));
  const apiKey = `bench_${randomBytes(12).toString('hex')}`;
  const child = spawn(process.execPath, [...(process.env.SERVER_NODE_ARGS?.split(' ') ?? []), main, '--port', '0', '--data-dir', dataDir], {
    env: { PATH: process.env.PATH ?? '', ASTRAFORGE_LOG_LEVEL: 'warn', ASTRAFORGE_API_KEY: apiKey },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((res, rej) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const ready = findReadyLine(out);
      if (ready) res(ready.url);
    });
    child.once('exit', (code) => rej(new Error(`${label} exited (${code}): ${out}`)));
  });
  const client = new BenchClient(url, apiKey);
  const session = await client.createSession();
  return { label, child, client, dataDir, session };
}

export async function stop(s: Started): Promise<void> {
  await s.client.json('DELETE', `/v1/sessions/${s.session}`).catch(() => undefined);
  await s.client.close();
  s.child.kill('SIGTERM');
  await new Promise((r) => s.child.once('exit', r));
  rmSync(s.dataDir, { recursive: true, force: true });
}
