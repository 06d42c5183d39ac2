// A window notices that its server went away: by the process id for the
// user's own server, by an unanswered ping for a remote one; a slow answer
// from a server that still runs is no reason to leave it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ServerInfo } from '@astraforge/contract/serverApi';
import { watchServer } from '../../src/server/serverWatch';
import { until } from '../helpers/until';

const info = (pid: number): ServerInfo => ({
  version: '0.1.0',
  build: 'b',
  pid,
  started_at: '2026-11-28T00:00:00.000Z',
  active_runs: 0,
  open_requests: 1,
  idle_exit_seconds: 1800,
});

describe('watching the server in use', () => {
  it('noticesTheProcessEnding', async () => {
    const child = spawn('sleep', ['30']);
    const pid = child.pid!;
    const gone: string[] = [];
    const watch = watchServer({ pid, ping: async () => info(pid), onGone: (why) => gone.push(why), pidEveryMs: 20, pingEveryMs: 20 });
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(gone, [], 'alive: nothing said');
      child.kill();
      await new Promise((r) => child.once('exit', r));
      await until('the watch to notice', () => gone.length > 0 || undefined, { timeoutMs: 5000 });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(gone.length, 1, 'said once');
      assert.match(gone[0], new RegExp(`pid ${pid}\\) exited`));
    } finally {
      watch.dispose();
    }
  });

  it('keepsALocalServerThatAnswersSlowlyAndPingsIt', async () => {
    const gone: string[] = [];
    let pings = 0;
    const watch = watchServer({
      pid: process.pid,
      ping: async () => {
        pings++;
        throw new Error('timed out');
      },
      onGone: (why) => gone.push(why),
      pidEveryMs: 20,
      pingEveryMs: 20,
    });
    try {
      await until('a few pings', () => pings >= 3 || undefined);
      assert.deepEqual(gone, []);
    } finally {
      watch.dispose();
    }
  });

  it('leavesARemoteServerThatStoppedAnswering', async () => {
    const gone: string[] = [];
    let up = true;
    const watch = watchServer({
      ping: async () => {
        if (up) return undefined; // it answered, without the route
        throw new Error('connect ECONNREFUSED');
      },
      onGone: (why) => gone.push(why),
      pingEveryMs: 20,
    });
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(gone, []);
      up = false;
      await until('the watch to notice', () => gone.length > 0 || undefined);
      assert.match(gone[0], /does not answer: connect ECONNREFUSED/);
    } finally {
      watch.dispose();
    }
  });
});
