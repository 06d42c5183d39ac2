// The bytes through the proxy are the origin's, byte for byte: a download of
// random data large enough to fill the proxy's read buffers many times over
// (and to leave writes pending on a full socket, when buffers are reused),
// through a CONNECT tunnel and as plain HTTP, hashed inside the sandbox.
// Runs against bubblewrap, or Docker with ASTRAFORGE_TEST_SANDBOX=docker.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient } from '../helpers/apiClient';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { DOCKER } from './egressStandIns';

const SIZE = 48 * 1024 * 1024;

/** sha256 of what `url` answers, fetched through the proxy (a tunnel with `tunnel`). */
function hashCommand(url: string, tunnel: boolean): string {
  if (!DOCKER) return `curl -sS ${tunnel ? '-p ' : ''}'${url}' | sha256sum`;
  // python3's urllib tunnels only for https; the plain path is what it can show here.
  const py = [
    'import hashlib, sys, urllib.request',
    'h = hashlib.sha256()',
    'r = urllib.request.urlopen(sys.argv[1], timeout=60)',
    'for chunk in iter(lambda: r.read(1 << 16), b""): h.update(chunk)',
    'print(h.hexdigest())',
  ].join('\n');
  return `python3 -c '${py}' '${url}'`;
}

describe('egress bytes through the proxy', function () {
  this.timeout(120_000);
  const body = randomBytes(SIZE);
  const expected = createHash('sha256').update(body).digest('hex');
  let origin: Server;
  let port: number;
  let server: ServerProcess;
  let api: ApiClient;

  before(async () => {
    origin = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': SIZE });
      // Written in uneven pieces, so reads do not line up with the proxy's buffers.
      let at = 0;
      const pump = () => {
        while (at < SIZE) {
          const end = Math.min(SIZE, at + 100_003);
          const more = res.write(body.subarray(at, end));
          at = end;
          if (!more) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    port = (origin.address() as AddressInfo).port;
    server = await startServer({
      config: {
        pool: { size: 0 },
        network: { allow: [`origin.test:${port}`], resolve: { 'origin.test': '127.0.0.1' }, allowPrivate: [`127.0.0.1:${port}`] },
      },
    });
    api = new ApiClient(server.url, server.apiKey);
  });

  after(async () => {
    await server?.dispose();
    origin?.close();
  });

  for (const tunnel of DOCKER ? [false] : [true, false]) {
    it(tunnel ? 'passesATunnelsDownloadByteForByte' : 'passesAPlainDownloadByteForByte', async () => {
      const id = await api.createSession({ network: { mode: 'allowlist', allow: [`origin.test:${port}`] } });
      // A slow reader first: the sandbox's side fills, and the proxy's writes stay pending while it reads on.
      const slow = DOCKER ? '' : `curl -sS ${tunnel ? '-p ' : ''}--limit-rate 20M 'http://origin.test:${port}/' | sha256sum; `;
      const r = await api.exec(id, `${slow}${hashCommand(`http://origin.test:${port}/`, tunnel)}`, 90_000);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const hashes = [...String(r.body.output).matchAll(/\b[0-9a-f]{64}\b/g)].map((m) => m[0]);
      assert.equal(hashes.length, DOCKER ? 1 : 2, r.body.output);
      for (const h of hashes) assert.equal(h, expected);
    });
  }
});
