import { startServer } from '../test/helpers/serverProcess';
import { BenchClient } from './httpClient';
import { summarize, timeEach, table } from './stats';
(async () => {
  const s = await startServer();
  const c = new BenchClient(s.url, s.apiKey);
  for (let i = 0; i < 5; i++) await c.json('DELETE', `/v1/sessions/${await c.createSession()}`);
  const ids: string[] = [];
  const r1 = summarize('create', await timeEach(40, async () => ids.push(await c.createSession())));
  for (const id of ids.splice(0)) await c.json('DELETE', `/v1/sessions/${id}`);
  const r2 = summarize('create+true', await timeEach(40, async () => { const id = await c.createSession(); await c.exec(id, 'true'); ids.push(id); }));
  for (const id of ids.splice(0)) await c.json('DELETE', `/v1/sessions/${id}`);
  console.log(table([r1, r2]));
  await c.close(); await s.dispose();
})();
