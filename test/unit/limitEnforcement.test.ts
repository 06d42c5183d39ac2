// Which limits a host enforces and how: the decision the server logs at start-up.
import assert from 'node:assert/strict';
import {
  addressSpaceWithoutCgroup,
  decideEnforcement,
  probeHostFacts,
  type HostFacts,
} from '../../server/src/sandboxes/host/limitEnforcement';

const GiB = 1024 ** 3;
const limits = { memoryBytes: 1 * GiB, addressSpaceBytes: 16 * GiB };
const host = (f: Partial<HostFacts>): HostFacts => ({
  provider: 'bwrap',
  root: true,
  cgroupVersion: 1,
  cgroupWritable: true,
  capSysResource: true,
  ...f,
});

describe('limit enforcement', () => {
  it('rootWithWritableCgroupsBoundsTheSessionTotal', () => {
    const e = decideEnforcement(host({ cgroupVersion: 2 }), limits);
    assert.equal(e.memory, 'cgroup v2');
    assert.equal(e.pids, 'cgroup v2');
    assert.equal(e.totalMemoryBounded, true);
    assert.equal(e.addressSpaceBytes, 16 * GiB);
    assert.equal(e.runnerOomScoreAdj, -900);
  });

  it('nonRootWithoutADelegatedCgroupFallsBackToPerProcessAddressSpaceSizedFromMemory', () => {
    const e = decideEnforcement(host({ root: false, cgroupVersion: 1, cgroupWritable: false, capSysResource: false }), limits);
    assert.equal(e.memory, 'rlimit');
    assert.equal(e.totalMemoryBounded, false);
    assert.equal(e.addressSpaceBytes, 1 * GiB);
    assert.equal(e.runnerOomScoreAdj, 0);
    assert.match(e.note ?? '', /not root and no cgroup v2 delegated/);
    assert.match(e.note ?? '', /total memory is not bounded/);
  });

  it('nonRootWithADelegatedV2CgroupUsesIt', () => {
    const e = decideEnforcement(host({ root: false, cgroupVersion: 2, cgroupWritable: true, capSysResource: false }), limits);
    assert.equal(e.memory, 'cgroup v2');
    assert.equal(e.totalMemoryBounded, true);
    assert.match(e.note ?? '', /CAP_SYS_RESOURCE/);
  });

  it('dockerLeavesTheTotalsToTheEngine', () => {
    const e = decideEnforcement(host({ provider: 'docker', cgroupWritable: false }), limits);
    assert.equal(e.memory, 'docker engine');
    assert.equal(e.totalMemoryBounded, true);
  });

  it('neverRaisesTheConfiguredAddressSpace', () => {
    assert.equal(addressSpaceWithoutCgroup({ memoryBytes: 32 * GiB, addressSpaceBytes: 16 * GiB }), 16 * GiB);
  });

  it('probesThisHost', () => {
    const f = probeHostFacts('bwrap');
    assert.equal(f.root, process.getuid?.() === 0);
    assert.ok(f.cgroupVersion === 1 || f.cgroupVersion === 2 || f.cgroupVersion === undefined);
  });
});
