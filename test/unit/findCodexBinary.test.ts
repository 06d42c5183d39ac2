// Where the server finds the Codex CLI: a configured binary first (the
// packaged extension has no node_modules), else @openai/codex's own.
import assert from 'node:assert/strict';
import { findCodexBinary } from '../../server/src/agents/codex/codexAgent';

describe('finding the Codex binary', () => {
  it('usesTheInstalledPackageByDefault', () => {
    assert.match(findCodexBinary() ?? '', /@openai\/codex-linux-(x64|arm64)\/vendor\/.*\/bin\/codex$/);
  });

  it('prefersAConfiguredBinaryAndRefusesOneThatIsNotThere', () => {
    const real = findCodexBinary()!;
    assert.equal(findCodexBinary(real), real);
    assert.equal(findCodexBinary('/nonexistent/codex'), undefined);
  });
});
