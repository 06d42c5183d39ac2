// The docker provider beside bubblewrap: create, create plus first command
// and warm exec through a server started with `sandbox: docker`, on the
// default sandbox image, in the same run as the rest of the bench.
import { execFileSync } from 'node:child_process';
import { startServer } from '../test/helpers/serverProcess';
import { BenchClient } from './httpClient';
import { summarize, timeEach, type Row } from './stats';

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
    for (let i = 0; i < 3; i++) await c.json('DELETE', `/v1/sessions/${await c.createSession()}`);
    const created: string[] = [];
    const create = summarize('docker: create a session', await timeEach(20, async () => created.push(await c.createSession())));
    for (const id of created.splice(0)) await c.json('DELETE', `/v1/sessions/${id}`);
    const createFirst = summarize(
      'docker: create + first command (`true`)',
      await timeEach(20, async () => {
        const id = await c.createSession();
        await c.exec(id, 'true');
        created.push(id);
      }),
    );
    for (const id of created.splice(0)) await c.json('DELETE', `/v1/sessions/${id}`);
    const id = await c.createSession();
    for (let i = 0; i < 20; i++) await c.exec(id, 'true');
    const warm = summarize('docker: warm exec round trip (`true`)', await timeEach(200, () => c.exec(id, 'true')));
    await c.json('DELETE', `/v1/sessions/${id}`);
    return { rows: [create, createFirst, warm], createFirstP50: createFirst.p50, warmExecP50: warm.p50 };
  } finally {
    await c.close();
    await server.dispose();
  }
}
