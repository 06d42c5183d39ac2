// The DeepAgent's sandbox backend (SessionSandbox) over a real sandbox
// session: what deepagents' tools are told when a file is missing, is a
// directory, or lies outside the workspace.
import assert from 'node:assert/strict';
import { SessionSandbox } from '../../server/src/agents/deepagent/sessionSandbox';
import { startInProcessRuns, type InProcessRuns } from './inProcessRuns';

describe('the DeepAgent sandbox backend', function () {
  this.timeout(60_000);
  let services: InProcessRuns;
  let sandbox: SessionSandbox;

  before(async () => {
    services = await startInProcessRuns({ maxConcurrentRuns: 1 });
    const session = await services.sessions.create({ ttl_seconds: 60 });
    await services.sessions.writeFile(session.id, 'src/a.txt', Buffer.from('a\n'));
    sandbox = new SessionSandbox({ sessions: services.sessions, sessionId: session.id, timeoutMs: () => 10_000 });
  });
  after(async () => services?.stop());

  it('tellsAMissingFileFromABadPath', async () => {
    const read = await sandbox.downloadFiles([
      '/workspace/missing.txt',
      '/workspace/nowhere/missing.txt',
      '/workspace/src/a.txt',
      '/etc/passwd',
    ]);
    assert.deepEqual(
      read.map((r) => [r.path, r.error]),
      [
        ['/workspace/missing.txt', 'file_not_found'],
        ['/workspace/nowhere/missing.txt', 'file_not_found'],
        ['/workspace/src/a.txt', null],
        ['/etc/passwd', 'invalid_path'],
      ],
    );
    assert.equal(Buffer.from(read[2].content!).toString(), 'a\n');
  });

  it('refusesToWriteOverADirectoryOrOutsideTheWorkspace', async () => {
    const written = await sandbox.uploadFiles([
      ['/workspace/src', new Uint8Array([1])],
      ['/etc/evil', new Uint8Array([1])],
      ['/workspace/new/b.txt', new Uint8Array([98])],
    ]);
    assert.deepEqual(
      written.map((w) => [w.path, w.error]),
      [
        ['/workspace/src', 'is_directory'],
        ['/etc/evil', 'invalid_path'],
        ['/workspace/new/b.txt', null],
      ],
    );
  });
});
