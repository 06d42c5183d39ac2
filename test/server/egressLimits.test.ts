// The egress proxy's limits, hit from inside a sandbox: bytes per sandbox (a
// download past the allowance is cut, and later connections are refused),
// connections open at once, and the idle timeout. Also what a hostile client
// might slip past a per-request check: a second request on a kept-alive proxy
// connection, userinfo and fragments that hide the real host.
import assert from 'node:assert/strict';
import { ApiClient } from '../helpers/apiClient';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { fetchCommand, rawProxyCommand, startOrigin, type Origin } from './egressStandIns';

const MiB = 1024 * 1024;

/** Python that holds `count` CONNECT tunnels to target open at once and prints each answer's status line. */
function holdTunnels(target: string, count: number): string {
  const py = [
    'import socket, sys',
    'held = []',
    `for i in range(${count}):`,
    '  s = socket.create_connection(("127.0.0.1", 3128), timeout=10)',
    `  s.sendall(b"CONNECT ${target} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")`,
    '  print(s.recv(4096).split(b"\\r\\n")[0].decode())',
    '  held.append(s)',
  ].join('\n');
  return `python3 -c '${py}'`;
}

describe('egress limits', function () {
  this.timeout(120_000);
  let origin: Origin;
  let server: ServerProcess;
  let api: ApiClient;

  before(async () => {
    origin = await startOrigin();
    const p = origin.port;
    server = await startServer({
      config: {
        pool: { size: 0 },
        network: {
          allow: [`origin.test:${p}`],
          resolve: { 'origin.test': '127.0.0.1' },
          allowPrivate: [`127.0.0.1:${p}`],
          maxConnections: 2,
          maxBytesPerRun: 1 * MiB,
          idleTimeoutSeconds: 1,
        },
      },
    });
    api = new ApiClient(server.url, server.apiKey);
  });

  after(async () => {
    await server?.dispose();
    await origin?.close();
  });

  const allowOrigin = () => ({ mode: 'allowlist', allow: [`origin.test:${origin.port}`] });

  async function run(id: string, cmd: string): Promise<string> {
    const r = await api.exec(id, cmd, 60_000);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.output as string;
  }

  it('cutsADownloadPastTheByteAllowanceAndRefusesWhatFollows', async () => {
    const id = await api.createSession({ network: allowOrigin() });
    await run(id, `${fetchCommand(`http://origin.test:${origin.port}/bytes/${3 * MiB}`)} > /tmp/out; wc -c < /tmp/out`);
    const usage = (await api.get(`/v1/sessions/${id}`)).body.network.usage;
    assert.ok(usage.bytes_received < 2 * MiB, `the download was cut near the limit: ${JSON.stringify(usage)}`);
    assert.ok(usage.bytes_received >= 1 * MiB - 64 * 1024, JSON.stringify(usage));
    const after = await run(id, fetchCommand(`http://origin.test:${origin.port}/small`));
    assert.match(after, /used its 1048576 bytes/);
    const blocked = (await api.get(`/v1/sessions/${id}`)).body.network.blocked;
    assert.equal(blocked.at(-1).rule, 'limit:bytes');
  });

  it('refusesConnectionsBeyondTheLimitAtOnce', async () => {
    const id = await api.createSession({ network: allowOrigin() });
    const out = await run(id, holdTunnels(`origin.test:${origin.port}`, 3));
    assert.deepEqual(out.trim().split('\n'), [
      'HTTP/1.1 200 Connection Established',
      'HTTP/1.1 200 Connection Established',
      "HTTP/1.1 429 Blocked by the sandbox's network policy",
    ]);
    // Those ended with the command: new ones go through again.
    assert.match(await run(id, fetchCommand(`http://origin.test:${origin.port}/again`)), /origin \/again/);
  });

  it('closesAnIdleTunnel', async () => {
    const id = await api.createSession({ network: allowOrigin() });
    const py = [
      'import socket, time',
      's = socket.create_connection(("127.0.0.1", 3128), timeout=10)',
      `s.sendall(b"CONNECT origin.test:${origin.port} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")`,
      'print(s.recv(4096).split(b"\\r\\n")[0].decode())',
      'time.sleep(2.5)',
      'print("closed" if s.recv(4096) == b"" else "open")',
    ].join('\n');
    assert.deepEqual((await run(id, `python3 -c '${py}'`)).trim().split('\n'), ['HTTP/1.1 200 Connection Established', 'closed']);
  });

  it('checksEveryRequestOnAKeptAliveProxyConnection', async () => {
    const id = await api.createSession({ network: allowOrigin() });
    const before = origin.requests.length;
    const p = origin.port;
    const py = [
      'import re, socket',
      's = socket.create_connection(("127.0.0.1", 3128), timeout=10)',
      `s.sendall(b"GET http://origin.test:${p}/first HTTP/1.1\\r\\nHost: origin.test:${p}\\r\\n\\r\\nGET http://169.254.169.254/latest HTTP/1.1\\r\\nHost: 169.254.169.254\\r\\n\\r\\n")`,
      'data = b""',
      'while data.count(b"HTTP/1.1 ") < 2:',
      '  chunk = s.recv(65536)',
      '  if not chunk: break',
      '  data += chunk',
      'print(re.findall(rb"HTTP/1\\.1 \\d+", data))',
    ].join('\n');
    const out = await run(id, `python3 -c '${py}'`);
    assert.match(out, /HTTP\/1\.1 200.*HTTP\/1\.1 403/, out);
    assert.deepEqual(
      origin.requests.slice(before).map((r) => r.path),
      ['/first'],
    );
  });

  it('readsTheRealHostBehindUserinfoAndFragments', async () => {
    const id = await api.createSession({ network: allowOrigin() });
    const p = origin.port;
    for (const target of [`http://origin.test:${p}@169.254.169.254/`, `http://169.254.169.254#@origin.test:${p}/`]) {
      const line = await run(id, rawProxyCommand(`GET ${target} HTTP/1.1\r\n\r\n`));
      assert.match(line, /^HTTP\/1\.1 (400|403)/, `${target}: ${line}`);
    }
    const blocked = (await api.get(`/v1/sessions/${id}`)).body.network.blocked;
    assert.ok(blocked.every((b: { host: string }) => b.host !== 'origin.test'));
  });
});
