// The janitor's rules on a real store in a temp folder, with a clock and a
// list of runs the test controls.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { SnapshotJanitor, type RunReference } from '../../server/src/snapshots/snapshotJanitor';
import { SnapshotStore } from '../../server/src/snapshots/snapshotStore';
import { until } from '../helpers/until';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

async function tarOf(bytes: number): Promise<Buffer> {
  const p = pack();
  p.entry({ name: 'blob.bin' }, Buffer.alloc(bytes, 1));
  p.finalize();
  const parts: Buffer[] = [];
  for await (const c of p) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

describe('snapshot janitor', () => {
  let dir: string;
  let store: SnapshotStore;
  let runs: RunReference[];
  let now: number;
  const janitor = (maxTotalBytes = 1e12) =>
    new SnapshotJanitor({
      store,
      runs: () => runs,
      retention: { retentionDays: 7, unreferencedMinutes: 60, maxTotalBytes },
      log: () => undefined,
      now: () => now,
    });
  /** A snapshot last used `agoMs` before the test's now. */
  async function snapshot(agoMs: number, bytes = 1000): Promise<string> {
    const { snapshot_id } = await store.ingest(Readable.from([await tarOf(bytes)]), { gzip: false });
    const at = new Date(now - agoMs);
    utimesSync(join(dir, snapshot_id, 'snapshot.tar'), at, at);
    return snapshot_id;
  }
  const run = (id: string, snapshot_id: string, status: RunReference['status'], changedAgoMs: number): RunReference => ({
    id,
    snapshot_id,
    status,
    updated_at: new Date(now - changedAgoMs).toISOString(),
  });
  const ids = () => new Set(store.list().map((s) => s.id));

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'af-janitor-'));
    store = new SnapshotStore(dir, { maxArchiveBytes: 1e9, maxUnpackedBytes: 1e9, maxFiles: 100, maxFileBytes: 1e9 });
    runs = [];
    now = Date.now() + 365 * DAY;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('removesUnreferencedSnapshotsAfterUnreferencedMinutesOfDisuse', async () => {
    const old = await snapshot(61 * MINUTE);
    const recent = await snapshot(59 * MINUTE);
    const removed = janitor().sweep();
    assert.deepEqual(
      removed.map((r) => [r.snapshot_id, r.reason]),
      [[old, 'unreferenced']],
    );
    assert.deepEqual(ids(), new Set([recent]));
  });

  it('keepsReferencedSnapshotsUntilRetentionDaysAfterTheLastRunChanged', async () => {
    const a = await snapshot(30 * DAY);
    const b = await snapshot(30 * DAY);
    runs = [run('r1', a, 'succeeded', 8 * DAY), run('r2', b, 'failed', 8 * DAY), run('r3', b, 'succeeded', 6 * DAY)];
    const removed = janitor().sweep();
    assert.deepEqual(
      removed.map((r) => [r.snapshot_id, r.reason, r.runs]),
      [[a, 'retention', ['r1']]],
    );
    assert.deepEqual(ids(), new Set([b]));
  });

  it('neverRemovesASnapshotAQueuedProvisioningOrRunningRunNeeds', async () => {
    const ids3 = [await snapshot(90 * DAY), await snapshot(90 * DAY), await snapshot(90 * DAY)];
    runs = [run('q', ids3[0], 'queued', 60 * DAY), run('p', ids3[1], 'provisioning', 60 * DAY), run('r', ids3[2], 'running', 60 * DAY)];
    assert.deepEqual(janitor(1).sweep(), []);
    assert.equal(ids().size, 3);
  });

  it('evictsLeastRecentlyUsedFirstOverTheTotal', async () => {
    const oldest = await snapshot(50 * MINUTE, 10_000);
    const middle = await snapshot(40 * MINUTE, 10_000);
    const newest = await snapshot(30 * MINUTE, 10_000);
    runs = [run('r', oldest, 'running', 0)];
    const sizes = store.list().map((s) => s.diskBytes);
    const removed = janitor(sizes.reduce((n, s) => n + s, 0) - 1).sweep();
    assert.deepEqual(
      removed.map((r) => [r.snapshot_id, r.reason]),
      [[middle, 'total']],
    );
    assert.deepEqual(ids(), new Set([oldest, newest]));
  });

  it('removesWhatACrashedUploadLeftButNotAnUploadInProgress', async () => {
    const leftover = 'ab'.repeat(12);
    mkdirSync(join(dir, leftover));
    writeFileSync(join(dir, leftover, 'snapshot.tar'), 'partial');
    const body = new Readable({ read() {} });
    const inProgress = store.ingest(body, { gzip: false });
    body.push(await tarOf(10).then((b) => b.subarray(0, 512)));
    // On disk it looks like the leftover: a folder with a partial archive and no manifest.
    await until('the upload to start writing its archive', () =>
      readdirSync(dir).some((id) => id !== leftover && existsSync(join(dir, id, 'snapshot.tar'))),
    );
    const removed = janitor().sweep();
    assert.deepEqual(
      removed.map((r) => [r.snapshot_id, r.reason]),
      [[leftover, 'unfinished-upload']],
    );
    body.push(null);
    await assert.rejects(inProgress);
  });
});
