// Egress attacked from inside a sandbox, as a hostile agent would: through
// the proxy variables with curl (python3 on the Docker image), and by talking
// to the proxy itself. Private and loopback addresses, the metadata address,
// the server's own port, names that resolve to loopback, numeric tricks, a
// Host header that names another host, and DNS rebinding (a real DNS server on
// loopback whose answer changes between lookups) are all refused and reported,
// and the origin behind them never sees a connection. Runs against bubblewrap,
// or Docker with ASTRAFORGE_TEST_SANDBOX=docker.
import assert from 'node:assert/strict';
import { ApiClient } from '../helpers/apiClient';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import {
  DOCKER,
  fetchCommand,
  rawProxyCommand,
  startOrigin,
  startScriptedDns,
  statusOf,
  type Origin,
  type ScriptedDns,
} from './egressStandIns';

/** A public address the rebinding DNS hands out first (nothing answers there from this machine, which is the point). */
const PUBLIC_IP = '93.184.215.14';

describe('egress attacks', function () {
  this.timeout(120_000);
  let origin: Origin;
  /** A loopback service nothing may reach (not in allowPrivate): what a rebinding attack aims at. */
  let victim: Origin;
  let dns: ScriptedDns;
  let server: ServerProcess;
  let api: ApiClient;
  let serverPort: number;

  before(async () => {
    origin = await startOrigin();
    victim = await startOrigin();
    dns = await startScriptedDns((name, n) => {
      if (name === 'origin.test' || name === 'loopy.test' || name === 'localhost') return ['127.0.0.1'];
      // Public for the 1st, 3rd... lookup, loopback for the 2nd, 4th...: a checker that looked up again would be fooled.
      if (name === 'rebind.test') return n % 2 === 1 ? [PUBLIC_IP] : ['127.0.0.1'];
      // Both at once: the proxy must connect to the one it checked, never the other.
      if (name === 'mixed.test') return ['127.0.0.1', PUBLIC_IP];
      return undefined;
    });
    const p = origin.port;
    server = await startServer({
      config: {
        pool: { size: 0 },
        network: {
          allow: [`origin.test:${p}`, `loopy.test:${p}`, `rebind.test:${victim.port}`, `mixed.test:${victim.port}`, `10.1.2.3:${p}`],
          open: true,
          dnsServers: [`127.0.0.1:${dns.port}`],
          allowPrivate: [`127.0.0.1:${p}`],
          connectTimeoutSeconds: 2,
        },
      },
    });
    api = new ApiClient(server.url, server.apiKey);
    serverPort = Number(new URL(server.url).port);
  });

  after(async () => {
    await server?.dispose();
    await origin?.close();
    await victim?.close();
    dns?.close();
  });

  async function session(network: unknown): Promise<string> {
    return api.createSession({ network });
  }

  async function run(id: string, cmd: string): Promise<string> {
    const r = await api.exec(id, cmd, 60_000);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.output as string;
  }

  async function blockedOf(id: string): Promise<{ host: string; port: number; rule: string; reason: string }[]> {
    return (await api.get(`/v1/sessions/${id}`)).body.network.blocked;
  }

  it('reachesAnAllowedHostAndReportsIt', async () => {
    const id = await session({ mode: 'allowlist', allow: [`origin.test:${origin.port}`] });
    const before = origin.requests.length;
    const out = await run(id, fetchCommand(`http://origin.test:${origin.port}/hello`));
    assert.equal(statusOf(out), 200, out);
    assert.match(out, /origin \/hello/);
    const tunnelled = await run(id, fetchCommand(`http://origin.test:${origin.port}/tunnel`, { tunnel: !DOCKER }));
    assert.match(tunnelled, /origin \/tunnel/);
    assert.deepEqual(
      origin.requests.slice(before).map((r) => r.host),
      [`origin.test:${origin.port}`, `origin.test:${origin.port}`],
    );
    const info = (await api.get(`/v1/sessions/${id}`)).body.network;
    assert.equal(info.mode, 'allowlist');
    assert.deepEqual(info.allowed_hosts, [`origin.test:${origin.port}`]);
    assert.ok(info.usage.bytes_received > 0 && info.usage.connections >= 2, JSON.stringify(info.usage));
  });

  it('refusesHostsNoEntryNames', async () => {
    const id = await session({ mode: 'allowlist', allow: [`origin.test:${origin.port}`] });
    const out = await run(id, fetchCommand(`http://loopy.test:${origin.port}/`));
    assert.equal(statusOf(out), 403, out);
    assert.match(out, /no allow entry names loopy\.test/);
    assert.deepEqual(
      (await blockedOf(id)).map((b) => [b.host, b.rule]),
      [['loopy.test', 'no-rule']],
    );
  });

  it('refusesPrivateLoopbackMetadataAndTheServersOwnPortEvenInOpenMode', async () => {
    const id = await session({ mode: 'open' });
    const before = origin.connections;
    const targets: [string, string][] = [
      ['http://10.1.2.3/', 'private-address'],
      ['http://192.168.0.1:8080/', 'private-address'],
      ['http://169.254.169.254/latest/meta-data/', 'metadata-address'],
      [`http://127.0.0.1:${serverPort}/healthz`, 'loopback-address'],
      [`http://localhost:${origin.port}/`, 'loopback-address'],
      [`http://loopy.test:${origin.port}/`, 'loopback-address'],
      [`http://[::1]:${origin.port}/`, 'loopback-address'],
      [`http://[::ffff:127.0.0.1]:${origin.port}/`, 'loopback-address'],
      [`http://0.0.0.0:${origin.port}/`, 'reserved-address'],
    ];
    for (const [url, rule] of targets) {
      const out = await run(id, fetchCommand(url, { forceProxy: true }));
      assert.equal(statusOf(out), 403, `${url}: ${out}`);
      const last = (await blockedOf(id)).at(-1);
      assert.equal(last?.rule, rule, `${url}: ${JSON.stringify(last)}`);
    }
    assert.equal(origin.connections, before, 'no refused connection reached the origin');
  });

  it('refusesTunnelsToPrivateAddressesAndNumericTricks', async () => {
    const id = await session({ mode: 'open' });
    const before = origin.connections;
    const attempts: [string, string][] = [
      [`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`, 'loopback-address'],
      [`CONNECT 2130706433:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`, 'resolve-failed'],
      [`CONNECT 0x7f.1:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`, 'resolve-failed'],
      [`CONNECT [::1]:${serverPort} HTTP/1.1\r\nHost: x\r\n\r\n`, 'loopback-address'],
      [`CONNECT [fd00:ec2::254]:80 HTTP/1.1\r\nHost: x\r\n\r\n`, 'metadata-address'],
      [`CONNECT localhost.:${origin.port} HTTP/1.1\r\nHost: x\r\n\r\n`, 'loopback-address'],
    ];
    for (const [request, rule] of attempts) {
      const line = await run(id, rawProxyCommand(request));
      assert.match(line, /^HTTP\/1\.1 (403|502)/, `${JSON.stringify(request)}: ${line}`);
      const last = (await blockedOf(id)).at(-1);
      assert.equal(last?.rule, rule, `${JSON.stringify(request)}: ${JSON.stringify(last)}`);
    }
    assert.equal(origin.connections, before);
  });

  it('opensAPrivateEndpointOnlyWhereAnAllowEntryNamesItAndAllowPrivateListsIt', async () => {
    // 10.1.2.3:p is allowed by name but not in allowPrivate; origin.test resolves to 127.0.0.1:p, which is.
    const id = await session({ mode: 'allowlist', allow: [`10.1.2.3:${origin.port}`, `origin.test:${origin.port}`] });
    const out = await run(id, fetchCommand(`http://10.1.2.3:${origin.port}/`));
    assert.match(out, /10\.1\.2\.3:\d+ is a private address/);
    assert.equal((await blockedOf(id)).at(-1)?.rule, 'private-address');
    assert.match(await run(id, fetchCommand(`http://origin.test:${origin.port}/ok`)), /origin \/ok/);
  });

  it('refusesAPlainRequestWhoseHostHeaderNamesAnotherHost', async () => {
    const id = await session({ mode: 'allowlist', allow: [`origin.test:${origin.port}`] });
    const before = origin.connections;
    const line = await run(id, rawProxyCommand(`GET http://origin.test:${origin.port}/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n`));
    assert.match(line, /^HTTP\/1\.1 403/);
    assert.equal((await blockedOf(id)).at(-1)?.rule, 'host-mismatch');
    const direct = await run(id, rawProxyCommand(`GET / HTTP/1.1\r\nHost: origin.test:${origin.port}\r\n\r\n`));
    assert.match(direct, /^HTTP\/1\.1 400/, 'origin-form requests are not proxied');
    assert.equal(origin.connections, before);
  });

  it('connectsToTheAddressItCheckedUnderDnsRebinding', async () => {
    const v = victim.port;
    const id = await session({ mode: 'allowlist', allow: [`rebind.test:${v}`, `mixed.test:${v}`] });
    dns.queries.delete('rebind.test');
    // 1st lookup: public, allowed; the proxy connects there (whatever answers there, if anything) and not to loopback.
    const first = await run(id, rawProxyCommand(`CONNECT rebind.test:${v} HTTP/1.1\r\nHost: x\r\n\r\n`));
    assert.match(first, /^HTTP\/1\.1 (200|502)/, first);
    // 2nd lookup: loopback, refused.
    const second = await run(id, rawProxyCommand(`CONNECT rebind.test:${v} HTTP/1.1\r\nHost: x\r\n\r\n`));
    assert.match(second, /^HTTP\/1\.1 403/, second);
    assert.equal(dns.queries.get('rebind.test'), 2, 'one lookup per connection, none after the check');
    const mixed = await run(id, rawProxyCommand(`CONNECT mixed.test:${v} HTTP/1.1\r\nHost: x\r\n\r\n`));
    assert.match(mixed, /^HTTP\/1\.1 (200|502)/, 'the loopback record is skipped, the public one tried');
    // Plain HTTP the same way: the request goes to the public address or nowhere.
    await run(id, fetchCommand(`http://rebind.test:${v}/`));
    await run(id, fetchCommand(`http://rebind.test:${v}/`));
    assert.equal(victim.connections, 0, 'the loopback service was never reached');
    const info = (await api.get(`/v1/sessions/${id}`)).body.network;
    assert.deepEqual(
      info.blocked.map((b: { host: string; rule: string }) => [b.host, b.rule]),
      [
        ['rebind.test', 'loopback-address'],
        ['rebind.test', 'loopback-address'],
      ],
    );
    assert.deepEqual(info.allowed_hosts, [`rebind.test:${v}`, `mixed.test:${v}`]);
  });

  it('leavesNoRouteOutButTheProxy', async () => {
    const id = await session({ mode: 'open' });
    const py = `import socket
for host, port in [("127.0.0.1", ${serverPort}), ("10.1.2.3", 80), ("${PUBLIC_IP}", 80)]:
  try:
    socket.create_connection((host, port), timeout=3); print("CONNECTED", host)
  except Exception as e:
    print("refused", host, type(e).__name__)`;
    const out = await run(id, `python3 -c '${py}'; cat /proc/net/dev | tail -n +3 | cut -d: -f1`);
    assert.doesNotMatch(out, /CONNECTED/, out);
    assert.deepEqual(
      out
        .split('\n')
        .filter((l) => /^\s*\w+\s*$/.test(l))
        .map((l) => l.trim()),
      ['lo'],
      'only loopback inside',
    );
  });

  it('givesASandboxWithoutNetworkNoProxy', async () => {
    const id = await session(undefined);
    const out = await run(id, 'env | grep -ci proxy; test -e /.astraforge/egress.sock && echo SOCKET || echo no-socket');
    assert.match(out, /^0\nno-socket/);
    assert.equal((await api.get(`/v1/sessions/${id}`)).body.network.mode, 'none');
  });
});
