// Hostile snapshots against the real server: archives that unpack to far more
// than they weigh, and archives that two tar readers read differently. Each
// test performs the attack over HTTP, and where an archive is accepted, seeds
// a real run's workspace from it and looks at what landed there.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../helpers/apiClient';
import { uploadStream, waitForRun } from '../helpers/runHelpers';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

const MiB = 1024 * 1024;
const LIMITS = { maxArchiveBytes: 5 * MiB, maxUnpackedBytes: 5 * MiB, maxFiles: 1000, maxFileBytes: 4 * MiB };

/** Runs a Python script (tarfile, gzip, raw headers) that writes an archive to stdout. */
function py(script: string): Buffer {
  return execFileSync('python3', ['-c', `import tarfile,io,sys,gzip,zlib\n${script}`], { maxBuffer: 64 * MiB });
}

/** A ustar header block for a raw archive, from Python's tarfile. */
const RAW_HEADER = `def hdr(name, typ, size=0, linkname=''):
    i=tarfile.TarInfo(name); i.type=typ; i.size=size; i.linkname=linkname; i.mode=0o644
    return i.tobuf(format=tarfile.USTAR_FORMAT)
def pad(b): return b + bytes((-len(b))%512)
`;

/** The peak resident memory of the server process so far (VmHWM), in bytes. */
function peakRss(server: ServerProcess): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

describe('snapshot attacks', function () {
  this.timeout(120_000);
  let server: ServerProcess;
  let api: ApiClient;

  before(async () => {
    server = await startServer({ config: { snapshots: LIMITS } });
    api = new ApiClient(server.url, server.apiKey);
  });
  after(async () => server?.dispose());

  const stored = () => readdirSync(join(server.dataDir, 'snapshots'));

  async function refused(body: Buffer, type: string, status: number, code: string, message: RegExp) {
    const before = stored();
    const r = await uploadStream(api, body, type);
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.error_code, code);
    assert.match(r.body.message, message);
    assert.deepEqual(stored(), before, 'nothing of a refused snapshot is kept');
    return r;
  }

  /** Uploads, runs a command agent on the snapshot, and returns what `cmd` prints in the run's sandbox. */
  async function inWorkspaceOf(body: Buffer, cmd: string): Promise<string> {
    const up = await uploadStream(api, body, 'application/x-tar');
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const run = await api.post('/api/runs', {
      agent: 'command',
      task: { kind: 'spec', prompt: 'look', command: 'true' },
      snapshot_id: up.body.snapshot_id,
    });
    assert.equal(run.status, 201, JSON.stringify(run.body));
    const done = await waitForRun(api, run.body.id, ['succeeded', 'failed']);
    assert.equal(done.status, 'succeeded', done.error);
    const out = await api.exec(done.session_id, cmd);
    assert.equal(out.status, 200, JSON.stringify(out.body));
    return out.body.output as string;
  }

  /** Every entry of the workspace (git's folder aside), symlinks with where they resolve. */
  const LIST =
    'cd /workspace && find . -path ./.git -prune -o -print | sort && find . -type l -exec sh -c \'echo "LINK $1 -> $(readlink "$1") => $(readlink -f "$1")"\' _ {} \\;';

  it('refusesTheTrailingZerosBombWhileStreamingWithoutGrowingMemory', async () => {
    // The reported attack: one tiny file, then 400 MiB of zero blocks past the end-of-archive marker, gzipped to ~400 KB.
    const bomb =
      py(`b=io.BytesIO();t=tarfile.open(fileobj=b,mode='w');i=tarfile.TarInfo('a');i.size=1;t.addfile(i,io.BytesIO(b'a'));t.close()
c=zlib.compressobj(9,zlib.DEFLATED,31);out=[c.compress(b.getvalue())]
z=bytes(1024*1024)
for k in range(400): out.append(c.compress(z))
out.append(c.flush());sys.stdout.buffer.write(b''.join(out))`);
    assert.ok(bomb.length < 500_000, `${bomb.length} bytes`);
    const peakBefore = peakRss(server);
    const t0 = performance.now();
    await refused(bomb, 'application/gzip', 413, 'PAYLOAD_TOO_LARGE', /unpacked archive is over its limit/);
    const ms = performance.now() - t0;
    const grew = peakRss(server) - peakBefore;
    assert.ok(grew < 48 * MiB, `the server's peak memory grew by ${Math.round(grew / MiB)} MiB`);
    // refused after about a MiB of the 400, not after unpacking it all
    assert.ok(ms < 3000, `${ms.toFixed(0)} ms`);
  });

  it('refusesAFileWhoseUnpackedSizeIsOverTheLimitFromItsHeader', async () => {
    const bomb = py(`b=io.BytesIO();t=tarfile.open(fileobj=b,mode='w')
for k in range(3):
  i=tarfile.TarInfo('zeros%d'%k);i.size=3*1024*1024;t.addfile(i,io.BytesIO(bytes(i.size)))
t.close();sys.stdout.buffer.write(gzip.compress(b.getvalue()))`);
    assert.ok(bomb.length < 100_000);
    await refused(bomb, 'application/gzip', 413, 'PAYLOAD_TOO_LARGE', /unpacked snapshot is over the 5242880-byte limit/);
  });

  it('refusesPaxRecordsThatPadAnArchiveOut', async () => {
    // 3 MiB of pax comment in front of each tiny file: no file counts it, the framing limit does
    const bomb = py(`b=io.BytesIO();t=tarfile.open(fileobj=b,mode='w',format=tarfile.PAX_FORMAT)
for k in range(40):
  i=tarfile.TarInfo('f%d'%k);i.size=1;i.pax_headers={'comment':'x'*(3*1024*1024)};t.addfile(i,io.BytesIO(b'a'))
t.close();sys.stdout.buffer.write(gzip.compress(b.getvalue()))`);
    await refused(bomb, 'application/gzip', 413, 'PAYLOAD_TOO_LARGE', /unpacked archive is over its limit/);
  });

  it('refusesManyTinyEntriesOverTheEntryLimit', async () => {
    const many = py(`b=io.BytesIO();t=tarfile.open(fileobj=b,mode='w')
for k in range(5000):
  i=tarfile.TarInfo('d/f%d'%k);t.addfile(i,io.BytesIO(b''))
t.close();sys.stdout.buffer.write(gzip.compress(b.getvalue()))`);
    await refused(many, 'application/gzip', 413, 'PAYLOAD_TOO_LARGE', /more than 1000 entries/);
  });

  it('refusesAPaxGlobalHeader', async () => {
    // GNU tar applies a global linkpath to the link below ("link -> /etc/shadow"); tar-stream alone reads "link -> README"
    const linkpath = py(`b=io.BytesIO();t=tarfile.open(fileobj=b,mode='w',format=tarfile.PAX_FORMAT,pax_headers={'linkpath':'/etc/shadow'})
i=tarfile.TarInfo('README');i.size=2;t.addfile(i,io.BytesIO(b'hi'))
i=tarfile.TarInfo('link');i.type=tarfile.SYMTYPE;i.linkname='README';t.addfile(i)
t.close();sys.stdout.buffer.write(b.getvalue())`);
    await refused(linkpath, 'application/x-tar', 400, 'INVALID_REQUEST', /pax global header/);
    const path = py(`b=io.BytesIO();t=tarfile.open(fileobj=b,mode='w',format=tarfile.PAX_FORMAT,pax_headers={'path':'../escaped.txt'})
i=tarfile.TarInfo('innocent.txt');i.size=2;t.addfile(i,io.BytesIO(b'hi'))
t.close();sys.stdout.buffer.write(b.getvalue())`);
    await refused(path, 'application/x-tar', 400, 'INVALID_REQUEST', /pax global header/);
  });

  it('refusesEntryTypesTheValidatorDoesNotModel', async () => {
    const sparse = py(`${RAW_HEADER}
i=tarfile.TarInfo('sparse');i.type=tarfile.GNUTYPE_SPARSE;i.size=0
sys.stdout.buffer.write(i.tobuf(format=tarfile.GNU_FORMAT)+bytes(1024))`);
    await refused(sparse, 'application/x-tar', 400, 'INVALID_REQUEST', /a type snapshots do not model/);
    const paxSparse = py(`b=io.BytesIO();t=tarfile.open(fileobj=b,mode='w',format=tarfile.PAX_FORMAT)
i=tarfile.TarInfo('GNUSparseFile.0/real');i.size=2;i.pax_headers={'GNU.sparse.major':'1','GNU.sparse.minor':'0','GNU.sparse.name':'real','GNU.sparse.realsize':'2'}
t.addfile(i,io.BytesIO(b'hi'));t.close();sys.stdout.buffer.write(b.getvalue())`);
    await refused(paxSparse, 'application/x-tar', 400, 'INVALID_REQUEST', /GNU sparse file/);
  });

  it('extractsExactlyThePathsAPaxHeaderGave', async () => {
    // the ustar fields say one thing, the pax 'x' record another: both readers take the pax one, and so does the workspace
    const tar = py(`b=io.BytesIO();t=tarfile.open(fileobj=b,mode='w',format=tarfile.PAX_FORMAT)
i=tarfile.TarInfo('decoy.txt');i.size=5;i.pax_headers={'path':'real/dir/file.txt'};t.addfile(i,io.BytesIO(b'paxed'))
i=tarfile.TarInfo('link');i.type=tarfile.SYMTYPE;i.linkname='/etc/shadow';i.pax_headers={'linkpath':'real/dir/file.txt'};t.addfile(i)
t.close();sys.stdout.buffer.write(b.getvalue())`);
    const out = await inWorkspaceOf(tar, `${LIST}; cat /workspace/link`);
    assert.doesNotMatch(out, /decoy/);
    assert.match(out, /^\.\/real\/dir\/file\.txt$/m);
    assert.match(out, /LINK \.\/link -> real\/dir\/file\.txt => \/workspace\/real\/dir\/file\.txt/);
    assert.match(out, /paxed$/);
    // and a pax linkpath that leads out is judged as the pax record says, not as the ustar field
    const out2 = py(`b=io.BytesIO();t=tarfile.open(fileobj=b,mode='w',format=tarfile.PAX_FORMAT)
i=tarfile.TarInfo('link');i.type=tarfile.SYMTYPE;i.linkname='README';i.pax_headers={'linkpath':'../../etc/shadow'};t.addfile(i)
t.close();sys.stdout.buffer.write(b.getvalue())`);
    await refused(out2, 'application/x-tar', 400, 'INVALID_REQUEST', /leads out/);
  });

  it('handlesGnuLongNamesAndLongLinksAsValidated', async () => {
    const longDir = 'a'.repeat(120) + '/' + 'b'.repeat(120);
    const tar = py(`b=io.BytesIO();t=tarfile.open(fileobj=b,mode='w',format=tarfile.GNU_FORMAT)
i=tarfile.TarInfo('${longDir}/long.txt');i.size=4;t.addfile(i,io.BytesIO(b'long'))
i=tarfile.TarInfo('${'l'.repeat(150)}');i.type=tarfile.SYMTYPE;i.linkname='${longDir}/long.txt';t.addfile(i)
t.close();sys.stdout.buffer.write(b.getvalue())`);
    assert.match(tar.toString('latin1'), /\.\/\.\/@LongLink/, 'GNU long-name records (L and K)');
    const out = await inWorkspaceOf(tar, `${LIST}; cat /workspace/${'l'.repeat(150)}`);
    assert.ok(out.includes(`./${longDir}/long.txt\n`), out);
    assert.ok(out.includes(`LINK ./${'l'.repeat(150)} -> ${longDir}/long.txt => /workspace/${longDir}/long.txt`), out);
    assert.match(out, /long$/);
    const escape = py(`b=io.BytesIO();t=tarfile.open(fileobj=b,mode='w',format=tarfile.GNU_FORMAT)
i=tarfile.TarInfo('x');i.type=tarfile.SYMTYPE;i.linkname='${'../'.repeat(40)}etc/shadow';t.addfile(i)
t.close();sys.stdout.buffer.write(b.getvalue())`);
    await refused(escape, 'application/x-tar', 400, 'INVALID_REQUEST', /leads out/);
  });

  it('neverExtractsASymlinkSmuggledBehindASymlinksData', async () => {
    // A symlink header claiming 512 bytes of data, and that data a second header "smuggled -> /etc". tar-stream
    // reads the block as the link's data; GNU tar ignores a symlink's size and extracts the block as an entry.
    const tar = py(`${RAW_HEADER}
inner=hdr('smuggled',tarfile.SYMTYPE,0,'/etc')
out=hdr('innocent',tarfile.SYMTYPE,len(inner),'README')+inner
out+=hdr('README',tarfile.REGTYPE,2)+pad(b'hi')+bytes(1024)
sys.stdout.buffer.write(out)`);
    const out = await inWorkspaceOf(tar, LIST);
    assert.doesNotMatch(out, /smuggled/);
    assert.match(out, /LINK \.\/innocent -> README => \/workspace\/README/);
    for (const line of out.split('\n').filter((l) => l.startsWith('LINK '))) {
      assert.match(line, /=> \/workspace\//, `a link points outside the workspace: ${line}`);
    }
  });
});
