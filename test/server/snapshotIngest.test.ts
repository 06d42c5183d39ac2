// Snapshot ingestion: hostile archives are refused and leave nothing behind;
// real archives stream to disk with bounded memory.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { SnapshotError, SnapshotStore } from '../../server/src/snapshots/snapshotStore';
import { childrenNamed } from '../helpers/childProcesses';

const MiB = 1024 * 1024;

/** Builds a tar in Python's tarfile, which writes whatever headers we ask for. */
function pyTar(entries: string): Buffer {
  const script = `import tarfile,io,sys
b=io.BytesIO()
t=tarfile.open(fileobj=b,mode='w')
def f(name,data=b'x',mode=0o644):
    i=tarfile.TarInfo(name);i.size=len(data);i.mode=mode;t.addfile(i,io.BytesIO(data))
def l(name,target,kind=tarfile.SYMTYPE):
    i=tarfile.TarInfo(name);i.type=kind;i.linkname=target;t.addfile(i)
def d(name):
    i=tarfile.TarInfo(name);i.type=tarfile.DIRTYPE;i.mode=0o755;t.addfile(i)
def special(name,kind):
    i=tarfile.TarInfo(name);i.type=kind;t.addfile(i)
${entries}
t.close();sys.stdout.buffer.write(b.getvalue())`;
  return execFileSync('python3', ['-c', script], { maxBuffer: 64 * MiB });
}

// Twice: as the store alone ingests, and as it does beside snapshot layers, unpacking each upload while it streams in.
for (const staging of [false, true])
  describe(`snapshot ingestion${staging ? ' (unpacked while it streams in)' : ''}`, () => {
    let root: string;
    let store: SnapshotStore;
    const outside = () => readdirSync(root).filter((n) => n !== 'snapshots' && n !== 'staging');
    beforeEach(() => {
      root = mkdtempSync(join(tmpdir(), 'af-snap-'));
      store = new SnapshotStore(join(root, 'snapshots'), {
        maxArchiveBytes: 300 * MiB,
        maxUnpackedBytes: 300 * MiB,
        maxFiles: 30_000,
        maxFileBytes: 64 * MiB,
      });
      if (staging) store.stageUploadTrees(join(root, 'staging'));
    });
    afterEach(async () => {
      // A staged tree may still be in the making: taken, it is whole.
      for (const s of store.list()) await store.takeStagedTree(s.id, join(root, `taken-${s.id}`));
      rmSync(root, { recursive: true, force: true });
    });

    async function refuses(tar: Buffer, pattern: RegExp, opts = { gzip: false }) {
      await assert.rejects(
        store.ingest(Readable.from([tar]), opts),
        (e: unknown) => e instanceof SnapshotError && pattern.test((e as Error).message),
      );
      assert.deepEqual(readdirSync(join(root, 'snapshots')), [], 'nothing is left behind');
      if (staging) assert.deepEqual(readdirSync(join(root, 'staging')), [], 'no tree staged');
      assert.deepEqual(outside(), [], 'nothing was written outside');
      assert.deepEqual(childrenNamed('tar'), [], 'no tar still unpacking it');
    }

    it('ingestsFilesFoldersSymlinksAndModesWithAManifest', async () => {
      const info = await store.ingest(
        Readable.from([pyTar("d('./src')\nf('./src/a.txt',b'hello')\nf('./run.sh',b'#!/bin/sh',0o755)\nl('./link','src/a.txt')")]),
        { gzip: false },
      );
      assert.equal(info.files, 2);
      assert.equal(info.bytes, 14);
      const tree = mkdtempSync(join(root, 'ws-'));
      await store.extractTo(info.snapshot_id, tree);
      assert.equal(readFileSync(join(tree, 'src/a.txt'), 'utf8'), 'hello');
      assert.equal(lstatSync(join(tree, 'run.sh')).mode & 0o777, 0o755);
      assert.ok(lstatSync(join(tree, 'link')).isSymbolicLink());
      const m = store.manifest(info.snapshot_id);
      assert.equal(m.get('src/a.txt')!.sha256, '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
      assert.equal(m.get('link')!.type, 'symlink');
      assert.deepEqual(store.get(info.snapshot_id), info);
    });

    it('refusesPathsThatLeaveTheRoot', async () => {
      await refuses(pyTar("f('../evil.txt')"), /\.\./);
      await refuses(pyTar("f('a/../../evil.txt')"), /\.\./);
      await refuses(pyTar("f('/tmp/evil.txt')"), /absolute/);
    });

    it('refusesLinksThatLeadOut', async () => {
      await refuses(pyTar("l('etc','/etc')"), /absolute/);
      await refuses(pyTar("l('up','../..')"), /leads out/);
      await refuses(pyTar("f('a');l('hard','a',tarfile.LNKTYPE)"), /hard link/);
    });

    it('followsTheArchivesOwnLinksToSeeWhereALinkReallyLeads', async () => {
      // "up" stays inside (it is the root), but "up/.." is the root's parent, though the text "d/up/.." looks inside
      await refuses(pyTar("d('d')\nl('d/up','..')\nl('esc','d/up/..')"), /leads out/);
      // the same, with the links in the other order
      await refuses(pyTar("l('esc','d/up/..')\nd('d')\nl('d/up','..')"), /leads out/);
      // a loop is refused, not followed forever
      await refuses(pyTar("l('a','b')\nl('b','a')"), /leads out/);
      const ok = await store.ingest(Readable.from([pyTar("d('d')\nl('d/up','..')\nl('fine','d/up/d')")]), { gzip: false });
      assert.equal(store.manifest(ok.snapshot_id).size, 2);
    });

    it('neverWritesThroughASymlinkFromTheSameArchive', async () => {
      await refuses(pyTar("d('sub')\nl('alias','sub')\nf('alias/planted.txt')"), /through the symlink/);
      await refuses(
        pyTar("f('target.txt',b'orig')\nl('t','target.txt')\nf('t',b'overwrite')"),
        /appears twice, as a symlink and as a file/,
      );
      assert.equal(existsSync(join(root, 'snapshots', 'sub')), false);
    });

    it('refusesDevicesAndFifos', async () => {
      await refuses(pyTar("special('null',tarfile.CHRTYPE)"), /character-device/);
      await refuses(pyTar("special('blk',tarfile.BLKTYPE)"), /block-device/);
      await refuses(pyTar("special('pipe',tarfile.FIFOTYPE)"), /fifo/);
    });

    it('enforcesSizeAndCountLimits', async () => {
      const small = new SnapshotStore(join(root, 'snapshots'), {
        maxArchiveBytes: 100_000,
        maxUnpackedBytes: 100_000,
        maxFiles: 3,
        maxFileBytes: 1000,
      });
      const check = async (tar: Buffer, re: RegExp, gzip = false) =>
        assert.rejects(
          small.ingest(Readable.from([tar]), { gzip }),
          (e: unknown) => e instanceof SnapshotError && re.test((e as Error).message),
        );
      await check(pyTar("f('big',b'x'*2000)"), /per file/);
      await check(pyTar("for i in range(5): f('f%d'%i)"), /more than 3 entries/);
      await check(pyTar("for i in range(3): f('f%d'%i,b'x'*900)\nf('pad',b'')"), /more than 3 entries|over the/);
      // a gzip bomb: tiny compressed, huge unpacked
      const bomb = execFileSync(
        'python3',
        [
          '-c',
          "import tarfile,io,sys,gzip\nb=io.BytesIO()\nt=tarfile.open(fileobj=b,mode='w')\ni=tarfile.TarInfo('zeros');i.size=50*1024*1024\nt.addfile(i,io.BytesIO(bytes(i.size)))\nt.close();sys.stdout.buffer.write(gzip.compress(b.getvalue()))",
        ],
        { maxBuffer: 64 * MiB },
      );
      assert.ok(bomb.length < 100_000);
      await check(bomb, /over the/, true);
    });

    it('refusesBodiesThatAreNotArchives', async () => {
      await refuses(Buffer.from('hello, this is plainly not a tar archive '.repeat(40)), /tar/);
      await refuses(Buffer.from('not gzip at all'), /gzip|tar/, { gzip: true });
    });

    it('acceptsGzipAndEmptyArchives', async () => {
      const gz = execFileSync('sh', [
        '-c',
        "python3 -c \"import tarfile,io,sys\nb=io.BytesIO()\nt=tarfile.open(fileobj=b,mode='w')\ni=tarfile.TarInfo('z.txt');i.size=1\nt.addfile(i,io.BytesIO(b'z'))\nt.close();sys.stdout.buffer.write(b.getvalue())\" | gzip",
      ]);
      assert.equal((await store.ingest(Readable.from([gz]), { gzip: true })).files, 1);
      const empty = await store.ingest(Readable.from([pyTar('')]), { gzip: false });
      assert.equal(empty.files, 0);
    });

    it('streamsA200MbArchiveWithBoundedMemory', async () => {
      const p = pack();
      const fileSize = 20 * MiB;
      const block = Buffer.alloc(MiB, 7);
      (async () => {
        for (let i = 0; i < 10; i++) {
          const entry = p.entry({ name: `big${i}.bin`, size: fileSize });
          for (let k = 0; k < fileSize / MiB; k++) {
            if (!entry.write(block)) await new Promise<void>((r) => entry.once('drain', () => r()));
          }
          (entry as unknown as NodeJS.WritableStream).end();
        }
        p.finalize();
      })();
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      const info = await store.ingest(p.pipe(createGzip({ level: 1 })), { gzip: true });
      clearInterval(sampler);
      assert.equal(info.bytes, 200 * MiB);
      assert.ok(peak - before < 100 * MiB, `memory grew by ${Math.round((peak - before) / MiB)} MiB while ingesting 200 MiB`);
    });

    it('ingestsTwentyThousandFilesFromRealTar', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'af-snap-tree-'));
      try {
        for (let i = 0; i < 20_000; i++) {
          if (i % 100 === 0) mkdirSync(join(dir, `d${i / 100}`));
          writeFileSync(join(dir, `d${Math.floor(i / 100)}`, `f${i}.txt`), `file ${i}\n`);
        }
        const tar = spawn('tar', ['-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
        const t0 = performance.now();
        const info = await store.ingest(tar.stdout!, { gzip: false });
        const ms = performance.now() - t0;
        assert.equal(info.files, 20_000);
        const tree = mkdtempSync(join(tmpdir(), 'af-snap-ws-'));
        try {
          await store.extractTo(info.snapshot_id, tree);
          assert.equal(readFileSync(join(tree, 'd123/f12345.txt'), 'utf8'), 'file 12345\n');
        } finally {
          rmSync(tree, { recursive: true, force: true });
        }
        assert.equal(store.manifest(info.snapshot_id).size, 20_000);
        console.log(`      (20,000 files ingested in ${ms.toFixed(0)} ms)`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
