// The build a window asks of the shared server: its own (code and settings),
// or the running server's when that one is to be adopted, so that windows
// never take turns replacing each other's server.
import assert from 'node:assert/strict';
import { buildToAsk, codeOf, isNewerCode, serverBuild, settingsDigest } from '../../src/server/serverIdentity';

const settings = { model: { baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-1', name: 'm' }, codexBinary: undefined };

describe('the server a window asks for', () => {
  it('namesTheCodeAndTheSettings', () => {
    const build = serverBuild('0.1.0+1000', settings);
    assert.match(build, /^0\.1\.0\+1000#[0-9a-f]{16}$/);
    assert.equal(codeOf(build), '0.1.0+1000');
    assert.equal(codeOf('0.1.0+1000'), '0.1.0+1000', 'a build without settings is all code');
    assert.notEqual(settingsDigest(settings), settingsDigest({ ...settings, model: { ...settings.model, apiKey: 'sk-2' } }), 'a new key');
    assert.notEqual(settingsDigest(settings), settingsDigest({ ...settings, codexBinary: '/opt/codex' }));
    assert.equal(settingsDigest(settings), settingsDigest({ ...settings }), 'the same settings, the same digest');
    assert.ok(!build.includes('sk-1'), 'the key itself is nowhere in it');
  });

  it('ordersCodeByVersionThenByBundleTime', () => {
    assert.equal(isNewerCode('0.2.0+1', '0.1.9+5'), true);
    assert.equal(isNewerCode('0.1.10+1', '0.1.9+5'), true, 'numerically, not as text');
    assert.equal(isNewerCode('0.1.0+6', '0.1.0+5'), true);
    assert.equal(isNewerCode('0.1.0+5', '0.1.0+5'), false);
    assert.equal(isNewerCode('0.1.0+4', '0.1.0+5'), false);
    assert.equal(isNewerCode('dev', '0.1.0+5'), false, 'what does not read is not newer');
  });

  it('adoptsARunningServerOfTheSameCodeUnlessItsSettingsWereJustChangedHere', () => {
    const ours = serverBuild('0.1.0+5', settings);
    const theirs = serverBuild('0.1.0+5', { ...settings, model: { ...settings.model, apiKey: 'sk-other' } });
    assert.equal(buildToAsk(ours, undefined, false), ours, 'none runs: start ours');
    assert.equal(buildToAsk(ours, ours, true), ours);
    assert.equal(buildToAsk(ours, theirs, false), theirs, 'another window saw other settings: use its server');
    assert.equal(buildToAsk(ours, theirs, true), ours, 'the user just changed them here: replace it');
  });

  it('replacesOlderCodeAndAdoptsNewer', () => {
    const ours = serverBuild('0.1.0+5', settings);
    assert.equal(buildToAsk(ours, serverBuild('0.1.0+4', settings), false), ours, 'an older server is replaced');
    assert.equal(buildToAsk(ours, serverBuild('0.1.0+4', settings), true), ours);
    const newer = serverBuild('0.2.0+1', settings);
    assert.equal(buildToAsk(ours, newer, false), newer, 'a window not yet reloaded after an update uses the new server');
    assert.equal(buildToAsk(ours, '0.1.0+4', false), ours, 'a server started by hand or by an older extension');
  });
});
