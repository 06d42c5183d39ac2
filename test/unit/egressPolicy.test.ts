// The egress policy: entries parsed and matched, requests bounded by the
// server's config, and the addresses no sandbox reaches by default.
import assert from 'node:assert/strict';
import { NetworkPolicyRequest, NetworkRule } from '@astraforge/contract/networkPolicy';
import { addressRefusal, allowPrivateKeys, forbiddenCategory } from '../../server/src/egress/addressCheck';
import { boundPolicy, decide, describePolicy, narrowPolicy, PolicyRefused } from '../../server/src/egress/networkPolicy';
import { parseRule, ruleCovers } from '../../server/src/egress/networkRules';

const SERVER = { allow: ['npm', '*.example.com', 'git.internal:8080', '10.0.0.5:5000'], deny: ['evil.example.com'], open: false };

describe('egress policy', () => {
  describe('a policy from a workspace file (an environment)', () => {
    it('keepsWhatTheServerAllowsAndNamesTheRest', () => {
      const narrowed = narrowPolicy({ mode: 'allowlist', allow: ['registry.npmjs.org', 'evil.example.net', 'pypi'] }, SERVER);
      assert.deepEqual(narrowed.request, { mode: 'allowlist', allow: ['registry.npmjs.org'] });
      assert.deepEqual(narrowed.dropped, ['evil.example.net', 'pypi']);
      // What is kept is within the bound: the server takes it without a 400.
      assert.equal(boundPolicy(narrowed.request, SERVER).mode, 'allowlist');
    });

    it('turnsOpenIntoTheServersListAndNothingAllowedIntoNone', () => {
      assert.deepEqual(narrowPolicy({ mode: 'open' }, { ...SERVER, open: false }), {
        request: { mode: 'allowlist' },
        dropped: ['mode:open'],
      });
      assert.deepEqual(narrowPolicy({ mode: 'allowlist', allow: ['evil.example.net'] }, SERVER), {
        request: { mode: 'none' },
        dropped: ['evil.example.net'],
      });
      assert.deepEqual(narrowPolicy({ mode: 'none' }, SERVER), { request: { mode: 'none' }, dropped: [] });
    });
  });

  describe('entries', () => {
    it('acceptsHostsWildcardsPortsIpsAndPresets', () => {
      for (const ok of ['npm', 'registry.npmjs.org', '*.example.com', 'host:8080', '10.0.0.5:5000', '[fd00::1]:443', 'a_b.test'])
        assert.equal(NetworkRule.safeParse(ok).success, true, ok);
      for (const bad of ['', 'http://x.com', 'x.com/path', '*', '*.', 'a..b', 'host:0', 'host:70000', 'x.com:80:80', 'a b', 'ex*.com'])
        assert.equal(NetworkRule.safeParse(bad).success, false, bad);
    });

    it('expandsPresetsToTheirDocumentedHosts', () => {
      const hosts = parseRule('npm').map((r) => r.host);
      assert.deepEqual(hosts, ['registry.npmjs.org', 'registry.yarnpkg.com']);
      assert.ok(parseRule('github').some((r) => r.kind === 'wildcard' && r.host === 'githubusercontent.com'));
    });

    it('aHostWithoutPortMeansTheWebPortsOnly', () => {
      const p = boundPolicy({ mode: 'allowlist', allow: ['registry.npmjs.org'] }, SERVER);
      assert.equal(decide(p, 'registry.npmjs.org', 443).allowed, true);
      assert.equal(decide(p, 'registry.npmjs.org', 80).allowed, true);
      assert.equal(decide(p, 'registry.npmjs.org', 22).allowed, false);
    });

    it('wildcardsMatchSubdomainsNotTheDomainNorAddresses', () => {
      const [w] = parseRule('*.example.com');
      const p = { mode: 'allowlist' as const, allow: [w!], deny: [] };
      assert.equal(decide(p, 'a.example.com', 443).allowed, true);
      assert.equal(decide(p, 'a.b.example.com', 443).allowed, true);
      assert.equal(decide(p, 'example.com', 443).allowed, false);
      assert.equal(decide(p, 'badexample.com', 443).allowed, false);
      assert.equal(decide(p, 'example.com.evil.net', 443).allowed, false);
    });

    it('coversOnlyWhatTheOuterEntryMatchesWhole', () => {
      const [outer] = parseRule('*.example.com');
      assert.equal(ruleCovers(outer!, parseRule('a.example.com')[0]!), true);
      assert.equal(ruleCovers(outer!, parseRule('*.a.example.com')[0]!), true);
      assert.equal(ruleCovers(outer!, parseRule('example.com')[0]!), false);
      assert.equal(ruleCovers(outer!, parseRule('a.example.com:8443')[0]!), false, 'no port means the web ports only');
      assert.equal(ruleCovers(parseRule('host:8080')[0]!, parseRule('host')[0]!), false);
      assert.equal(ruleCovers(parseRule('host')[0]!, parseRule('host:443')[0]!), true);
    });
  });

  describe('bounds', () => {
    it('noneWhenNothingIsAsked', () => {
      assert.equal(boundPolicy(undefined, SERVER).mode, 'none');
      assert.equal(decide(boundPolicy({ mode: 'none' }, SERVER), 'registry.npmjs.org', 443).rule, 'mode:none');
    });

    it('anAllowlistWithinTheServersIsGranted', () => {
      const p = boundPolicy({ mode: 'allowlist', allow: ['registry.npmjs.org', 'x.example.com', 'git.internal:8080'] }, SERVER);
      assert.deepEqual(describePolicy(p).allow, ['registry.npmjs.org', 'x.example.com', 'git.internal:8080']);
      assert.equal(decide(p, 'x.example.com', 443).rule, 'x.example.com');
      assert.equal(decide(p, 'y.example.com', 443).allowed, false, 'only what was asked, not the whole server list');
    });

    it('anAllowlistWithoutEntriesGetsTheServersWholeList', () => {
      const p = boundPolicy({ mode: 'allowlist' }, SERVER);
      assert.equal(decide(p, 'registry.yarnpkg.com', 443).rule, 'npm');
    });

    it('refusesEntriesBeyondTheServersList', () => {
      for (const entry of ['pypi', 'example.com', 'git.internal', 'git.internal:8081', '*.com', '10.0.0.5:5001', 'localhost']) {
        assert.throws(
          () => boundPolicy({ mode: 'allowlist', allow: [entry] }, SERVER),
          (e: unknown) => e instanceof PolicyRefused && e.entry === entry,
          entry,
        );
      }
    });

    it('refusesOpenUnlessTheServerEnablesIt', () => {
      assert.throws(() => boundPolicy({ mode: 'open' }, SERVER), PolicyRefused);
      const p = boundPolicy({ mode: 'open', deny: ['bad.test'] }, { ...SERVER, open: true });
      assert.equal(decide(p, 'anything.test', 443).allowed, true);
      assert.equal(decide(p, 'bad.test', 443).rule, 'deny:bad.test');
      assert.equal(decide(p, 'evil.example.com', 443).rule, 'deny:evil.example.com', "the server's deny list applies in open mode too");
    });

    it('denyWinsOverAllow', () => {
      const p = boundPolicy({ mode: 'allowlist', allow: ['*.example.com'], deny: ['b.example.com'] }, SERVER);
      assert.equal(decide(p, 'a.example.com', 443).allowed, true);
      assert.equal(decide(p, 'b.example.com', 443).rule, 'deny:b.example.com');
      assert.equal(decide(p, 'evil.example.com', 443).rule, 'deny:evil.example.com');
    });

    it('theRequestSchemaIsStrict', () => {
      assert.equal(NetworkPolicyRequest.safeParse({ mode: 'allowlist', allow: ['npm'] }).success, true);
      assert.equal(NetworkPolicyRequest.safeParse({ mode: 'allowlist', allowPrivate: ['127.0.0.1:80'] }).success, false);
      assert.equal(NetworkPolicyRequest.safeParse({ mode: 'wide' }).success, false);
    });
  });

  describe('addresses', () => {
    it('refusesLoopbackPrivateLinkLocalMetadataMulticastAndReserved', () => {
      const cases: Record<string, string> = {
        '127.0.0.1': 'loopback',
        '127.9.9.9': 'loopback',
        '::1': 'loopback',
        '10.1.2.3': 'private',
        '172.16.0.1': 'private',
        '192.168.1.1': 'private',
        '100.64.0.1': 'private',
        'fd12::1': 'private',
        '169.254.169.254': 'metadata',
        'fd00:ec2::254': 'metadata',
        '169.254.1.1': 'link-local',
        'fe80::1': 'link-local',
        '224.0.0.1': 'multicast',
        'ff02::1': 'multicast',
        '0.0.0.0': 'reserved',
        '::': 'reserved',
        '240.0.0.1': 'reserved',
        '192.0.2.1': 'reserved',
        '::ffff:127.0.0.1': 'loopback',
        '::ffff:7f00:1': 'loopback',
        '::ffff:a9fe:a9fe': 'metadata',
        '64:ff9b::10.0.0.1': 'private',
        '2002:7f00:1::': 'loopback',
      };
      for (const [ip, category] of Object.entries(cases)) assert.equal(forbiddenCategory(ip), category, ip);
    });

    it('letsPublicAddressesThrough', () => {
      for (const ip of ['93.184.216.34', '8.8.8.8', '2606:4700::1111', '1.1.1.1']) assert.equal(forbiddenCategory(ip), undefined, ip);
    });

    it('refusesTheServersOwnAddresses', () => {
      assert.equal(forbiddenCategory('93.184.216.34', new Set(['93.184.216.34'])), 'server');
    });

    it('opensAPrivateEndpointOnlyByExactIpAndPort', () => {
      const policy = { allowPrivate: allowPrivateKeys(['127.0.0.1:4873', '[fd00::1]:443']), ownAddresses: new Set<string>() };
      assert.equal(addressRefusal('127.0.0.1', 4873, policy), undefined);
      assert.equal(addressRefusal('127.0.0.1', 4874, policy)?.category, 'loopback');
      assert.equal(addressRefusal('127.0.0.2', 4873, policy)?.category, 'loopback');
      assert.equal(addressRefusal('fd00::1', 443, policy), undefined);
      assert.equal(addressRefusal('169.254.169.254', 80, policy)?.category, 'metadata');
    });
  });
});
