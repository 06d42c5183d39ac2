// The docker provider beside bubblewrap: create, create plus first command
// and warm exec through a server started with `sandbox: docker`, on the
// default sandbox image, in the same run as the rest of the bench.
import { execFileSync } from 'node:child_process';
import { startServer } from '../test/helpers/serverProcess';
import { BenchClient } from './httpClient';
import { sessionTimings } from './sandboxBench';
import type { Row } from './stats';

export async function dockerBench(): Promise<{ rows: Row[]; createFirstP50?: number; warmExecP50?: number }> {
  try {
    execFileSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 });
  } catch {
    return {
      rows: [{ name: 'docker provider', unit: 'ms', note: 'not available: no Docker engine answers here (scripts/setup-docker.sh)' }],
    };
  }
  const server = await startServer({ config: { sandbox: 'docker', maxSessions: 100 } });
  const c = new BenchClient(server.url, server.apiKey);
  try {
    const t = await sessionTimings(c, { prefix: 'docker: ', warmups: 3, sessions: 20, execWarmups: 20, execs: 200 });
    await c.json('DELETE', `/v1/sessions/${t.warmSession}`);
    return { rows: [t.create, t.createFirst, t.warm], createFirstP50: t.createFirst.p50, warmExecP50: t.warm.p50 };
  } finally {
    await c.close();
    await server.dispose();
  }
}
