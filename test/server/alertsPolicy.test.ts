// The pieces of an alert's policy that decide on their own: which paths a
// fix must not touch, which project a tracker's name maps to, which commit a
// release names, and when a delivery's timestamp is stale.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlertsConfig } from '../../server/src/alerts/alertsConfig';
import { staleTimestampProblem } from '../../server/src/alerts/intake/hookSignature';
import { HostGit } from '../../server/src/alerts/outbound/hostGit';
import { routeFor } from '../../server/src/alerts/pipeline/projectRoutes';
import { protectedPathsTouched } from '../../server/src/alerts/pipeline/protectedPaths';
import { git, makeShopRepo } from './alertsStandIns';

describe('alerts policy', () => {
  it('matchesProtectedPathGlobsAsDocumented', () => {
    const files = [
      { path: 'config/production.json' },
      { path: 'src/config.js' },
      { path: 'packages/api/package-lock.json' },
      { path: 'src/new.js', old_path: '.github/workflows/ci.yml' },
      { path: 'src/deep/a/b/secret.pem' },
    ];
    assert.deepEqual(protectedPathsTouched(files, ['config/']), ['config/production.json']);
    assert.deepEqual(protectedPathsTouched(files, ['*.json']), ['config/production.json', 'packages/api/package-lock.json']);
    assert.deepEqual(protectedPathsTouched(files, ['.github/**']), ['.github/workflows/ci.yml'], 'a rename counts by its old name too');
    assert.deepEqual(protectedPathsTouched(files, ['src/**/*.pem']), ['src/deep/a/b/secret.pem']);
    assert.deepEqual(protectedPathsTouched(files, ['src/*.pem', 'confi?/x']), []);
  });

  it('routesASlugOrADisplayNameToItsProject', () => {
    const config = AlertsConfig.parse({
      projects: { 'web-shop': { repository: 'file:///r.git' }, Billing: { repository: 'file:///b.git' } },
    });
    assert.equal(routeFor(config, 'web-shop')?.key, 'web-shop');
    assert.equal(routeFor(config, 'Web Shop')?.key, 'web-shop');
    assert.equal(routeFor(config, 'billing')?.key, 'Billing');
    assert.equal(routeFor(config, 'marketing'), undefined);
    assert.equal(routeFor(config, 'web-shop')?.maxRunsPerHour, 4);
  });

  it('refusesAConfigWhoseSecretVariableIsUnset', () => {
    delete process.env.AF_TEST_UNSET_SECRET;
    assert.throws(
      () => AlertsConfig.parse({ sentry: { clientSecret: { env: 'AF_TEST_UNSET_SECRET' } } }),
      /AF_TEST_UNSET_SECRET is not set/,
    );
  });

  it('mapsAReleaseToItsCommitByShaOrTag', async () => {
    const root = mkdtempSync(join(tmpdir(), 'af-release-'));
    try {
      const shop = makeShopRepo(root, 'shop');
      git(shop.bare, 'tag', 'v1.4.2', shop.release);
      const dir = join(root, 'clone');
      const hostGit = new HostGit({ url: `file://${shop.bare}` }, { name: 'T', email: 't@x' });
      await hostGit.clone(dir, 'main');
      assert.equal(await hostGit.releaseCommit(dir, shop.release), shop.release);
      assert.equal(await hostGit.releaseCommit(dir, `shop@${shop.release.slice(0, 12)}`), shop.release);
      assert.equal(await hostGit.releaseCommit(dir, 'shop@1.4.2'), shop.release, 'the tag v1.4.2');
      assert.equal(await hostGit.releaseCommit(dir, `1.4.2+${shop.head.slice(0, 9)}`), shop.head);
      assert.equal(await hostGit.releaseCommit(dir, 'shop@9.9.9'), undefined);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('judgesTimestampsByAge', () => {
    const now = 1_800_000_000_000;
    assert.equal(staleTimestampProblem(String(now / 1000 - 10), now, 300), undefined);
    assert.match(staleTimestampProblem(String(now / 1000 - 301), now, 300)!, /old/);
    assert.match(staleTimestampProblem(String(now / 1000 + 301), now, 300)!, /future/);
    assert.match(staleTimestampProblem('yesterday', now, 300)!, /not a number/);
    assert.match(staleTimestampProblem(undefined, now, 300)!, /missing/);
  });
});
