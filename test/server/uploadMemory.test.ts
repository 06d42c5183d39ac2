// Uploads (the Sandkasten multipart route and the toolkit's raw-body route)
// are streamed to a private folder under the data folder, then to the runner
// a chunk at a time: the server's peak memory does not grow with the upload.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { ApiClient } from '../helpers/apiClient';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

const MiB = 1024 * 1024;

/** The peak memory of the session's af-runner on the host (found by the uid that owns the session's files). */
function runnerPeakMiB(dataDir: string, sessionId: string, probe: string): number {
  const uid = statSync(join(dataDir, 'scratch', sessionId, probe)).uid;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      if (/^Name:\s+af-runner$/m.test(status) && Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) === uid) return peakRssMiB(Number(name));
    } catch {
      /* exited */
    }
  }
  throw new Error(`no af-runner of uid ${uid}`);
}

function peakRssMiB(pid: number): number {
  return Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

/** A multipart body of `files` parts of `size` bytes each, generated as it is sent (the test holds none of it). */
function multipart(boundary: string, files: { name: string; size: number; seed: number }[]): { body: Readable; hashes: string[] } {
  const hashes: string[] = [];
  for (const f of files) {
    const h = createHash('sha256');
    for (let off = 0; off < f.size; off += MiB) h.update(block(f.seed, off, Math.min(MiB, f.size - off)));
    hashes.push(h.digest('hex'));
  }
  async function* gen() {
    for (const f of files) {
      yield Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${f.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      );
      for (let off = 0; off < f.size; off += MiB) yield block(f.seed, off, Math.min(MiB, f.size - off));
      yield Buffer.from('\r\n');
    }
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\nup\r\n--${boundary}--\r\n`);
  }
  return { body: Readable.from(gen()), hashes };
}

function block(seed: number, off: number, n: number): Buffer {
  const b = Buffer.alloc(n, (seed + off / MiB) & 0xff);
  b.writeUInt32LE(off, 0);
  return b;
}

describe('multipart uploads', function () {
  this.timeout(300_000);
  let server: ServerProcess;
  let api: ApiClient;

  before(async () => {
    server = await startServer({ config: { maxFileBytes: 256 * MiB, limits: { diskQuotaBytes: 4096 * MiB, fileSizeBytes: 1024 * MiB } } });
    api = new ApiClient(server.url, server.apiKey);
  });
  after(async () => server?.dispose());
  /** Uploads in flight: none once a request has ended, and none in the shared system temp folder. */
  const spooled = () => [
    ...readdirSync(join(server.dataDir, 'uploads')),
    ...readdirSync(tmpdir()).filter((n) => n.startsWith('af-upload-')),
  ];

  it('streamsPartsToDiskSoPeakMemoryGrowsByOneFileNotTheUpload', async () => {
    const id = await api.createSession();
    await api.exec(id, 'true');
    const before = peakRssMiB(server.child.pid!);
    const boundary = 'afboundary7d3';
    // 200 MiB in all, as two files: buffered whole, the upload alone would cost 200 MiB and more.
    const files = [
      { name: 'a.bin', size: 100 * MiB, seed: 1 },
      { name: 'b.bin', size: 100 * MiB, seed: 2 },
    ];
    const { body, hashes } = multipart(boundary, files);
    const res = await request(`${server.url}/v1/sessions/${id}/fs/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
    });
    const text = await res.body.text();
    assert.equal(res.statusCode, 200, text);
    assert.deepEqual(JSON.parse(text).paths, ['/workspace/up/a.bin', '/workspace/up/b.bin']);
    const grown = peakRssMiB(server.child.pid!) - before;
    process.stdout.write(`      peak RSS growth: ${grown.toFixed(1)} MiB\n`);

    const sums = await api.exec(id, 'sha256sum up/a.bin up/b.bin');
    assert.equal(sums.body.output, `${hashes[0]}  up/a.bin\n${hashes[1]}  up/b.bin\n`);
    // Spooled to disk, then copied to the runner 1 MiB at a time (buffered whole, this was ~494 MiB).
    assert.ok(grown < 50, `the server's peak memory grew by ${grown.toFixed(0)} MiB for a 200 MiB upload`);
    // The runner writes chunk by chunk too: inside the sandbox's memory limit, whatever the file's size.
    const runner = runnerPeakMiB(server.dataDir, id, 'up/a.bin');
    process.stdout.write(`      af-runner peak RSS: ${runner.toFixed(1)} MiB\n`);
    assert.ok(runner < 32, `af-runner's peak memory reached ${runner.toFixed(0)} MiB`);
    assert.deepEqual(spooled(), [], 'temp files are removed');
  });

  it('refusesAFileOverTheLimitWhileStreamingAndLeavesNoTempFile', async () => {
    const id = await api.createSession();
    const boundary = 'afboundary99';
    const { body } = multipart(boundary, [{ name: 'big.bin', size: 300 * MiB, seed: 3 }]);
    const res = await request(`${server.url}/v1/sessions/${id}/fs/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
    });
    const text = await res.body.text();
    assert.equal(res.statusCode, 413, text);
    assert.deepEqual(spooled(), []);
    assert.equal((await api.exec(id, 'ls up 2>&1 | wc -l')).body.output.trim(), '1');
  });

  describe("the toolkit's raw-body upload (files/upload/)", () => {
    async function toolkitSession(): Promise<string> {
      const r = await api.post('/api/sandbox/sessions/', {});
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.id as string;
    }
    function sendRaw(id: string, path: string, size: number, seed: number) {
      async function* gen() {
        for (let off = 0; off < size; off += MiB) yield block(seed, off, Math.min(MiB, size - off));
      }
      return request(`${server.url}/api/sandbox/sessions/${id}/files/upload/?path=${encodeURIComponent(path)}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/octet-stream' },
        body: Readable.from(gen()),
      });
    }

    it('streamsTheBodyToDiskSoPeakMemoryDoesNotGrowWithIt', async () => {
      const id = await toolkitSession();
      const before = peakRssMiB(server.child.pid!);
      const res = await sendRaw(id, 'raw/c.bin', 200 * MiB, 4);
      const text = await res.body.text();
      assert.equal(res.statusCode, 200, text);
      assert.equal(JSON.parse(text).size, 200 * MiB);
      const grown = peakRssMiB(server.child.pid!) - before;
      process.stdout.write(`      peak RSS growth: ${grown.toFixed(1)} MiB\n`);
      const h = createHash('sha256');
      for (let off = 0; off < 200 * MiB; off += MiB) h.update(block(4, off, MiB));
      assert.equal((await api.exec(id, 'sha256sum raw/c.bin')).body.output, `${h.digest('hex')}  raw/c.bin\n`);
      assert.ok(grown < 50, `the server's peak memory grew by ${grown.toFixed(0)} MiB for a 200 MiB body`);
      assert.deepEqual(spooled(), []);
    });

    it('refusesABodyOverTheLimitWithoutStoringItWhole', async () => {
      const id = await toolkitSession();
      const res = await sendRaw(id, 'raw/big.bin', 300 * MiB, 5);
      const text = await res.body.text();
      assert.equal(res.statusCode, 413, text);
      assert.ok(JSON.parse(text).detail, text);
      assert.deepEqual(spooled(), []);
      assert.equal((await api.exec(id, 'ls raw 2>&1 | grep -c big.bin')).body.output.trim(), '0');
    });
  });
});
