// What the egress benchmark measures our proxy against, in the same run and
// from the same origin: the proxy of @anthropic-ai/sandbox-runtime (the
// peer with the same design: an HTTP proxy in a Node process, reached from a
// bubblewrap sandbox through a relay), and the floor any such design has on
// this machine: the same download through bare relays that only copy bytes
// (socat), one hop and two (the sandbox's relay plus a proxy are two).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { curlLoop, parseCurlLoop, shell } from './curlTiming';
import { summarize, type Row } from './stats';
import { freePort } from '../test/helpers/freePort';

async function listening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await shell(`curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${port}/small || true`);
    if (ok === '200') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`socat on port ${port} does not answer`);
}

/**
 * The download from the origin through `hops` chained socat relays (256 KiB
 * buffers, a process per connection as af-runner's relay has): the least a
 * relay on the path costs here, with no policy at all.
 */
export async function bareRelays(originPort: number, hops: number, bigPath: string, runs: number): Promise<Row[]> {
  const name = `egress floor: 100 MiB through ${hops} bare relay${hops > 1 ? 's' : ''} (socat, no policy)`;
  const relays: ChildProcess[] = [];
  try {
    let upstream = originPort;
    for (let i = 0; i < hops; i++) {
      const port = await freePort();
      const relay = spawn('socat', ['-b', '262144', `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, `TCP:127.0.0.1:${upstream}`], {
        stdio: 'ignore',
      });
      relays.push(relay);
      await listening(port);
      upstream = port;
    }
    const big = parseCurlLoop(await shell(curlLoop(runs, `http://127.0.0.1:${upstream}${bigPath}`)));
    return [summarize(name, big.mbps, 'MiB/s')];
  } catch (e) {
    return [{ name, unit: 'MiB/s', note: `not available: ${(e as Error).message} (it needs socat)` }];
  } finally {
    for (const r of relays) r.kill('SIGKILL');
  }
}

/**
 * The same downloads inside `srt` (@anthropic-ai/sandbox-runtime) through
 * its proxy, with the origin's name allowed. curl is told to use the proxy
 * for localhost (srt's NO_PROXY lists loopback, its proxy allows it by name).
 */
export async function sandboxRuntimeProxy(originPort: number, repoRoot: string, runs: number, firstByteRuns: number): Promise<Row[]> {
  const srt = join(repoRoot, 'node_modules/.bin/srt');
  const names = [
    'peer: 100 MiB through sandbox-runtime’s proxy, plain HTTP',
    'peer: 100 MiB through sandbox-runtime’s proxy, CONNECT tunnel',
    'peer: first byte, new connection, sandbox-runtime’s proxy',
  ];
  if (!existsSync(srt)) return names.map((name) => ({ name, unit: '', note: 'not available: npm package not installed' }));
  const dir = mkdtempSync(join(tmpdir(), 'af-srt-'));
  try {
    const settings = join(dir, 'settings.json');
    writeFileSync(
      settings,
      JSON.stringify({
        network: { allowedDomains: ['localhost'], deniedDomains: [] },
        filesystem: { denyRead: [], allowWrite: [dir], denyWrite: [] },
      }),
    );
    const base = `http://localhost:${originPort}`;
    const inSrt = (cmd: string) => shell(cmd, [srt, '--settings', settings]);
    await inSrt(curlLoop(1, `${base}/big`, '--noproxy ""'));
    const plain = parseCurlLoop(await inSrt(curlLoop(runs, `${base}/big`, '--noproxy ""')));
    const tunnel = parseCurlLoop(await inSrt(curlLoop(runs, `${base}/big`, '--noproxy "" -p')));
    const first = parseCurlLoop(await inSrt(curlLoop(firstByteRuns, `${base}/small`, '--noproxy ""')));
    if (!plain.mbps.length || !tunnel.mbps.length) throw new Error('curl inside srt printed nothing');
    return [
      summarize(names[0]!, plain.mbps, 'MiB/s', 'its Node proxy, socat into bwrap'),
      summarize(names[1]!, tunnel.mbps, 'MiB/s'),
      summarize(names[2]!, first.ttfbMs, 'ms'),
    ];
  } catch (e) {
    return names.map((name) => ({ name, unit: '', note: `not available: ${(e as Error).message.split('\n')[0]}` }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
