// Where each server setting comes from (flag over variable over config.json,
// with the table's two exceptions), and the pretty log line.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../server/src/config';
import { prettyLine, resolveLogFormat } from '../../server/src/cli/prettyLog';
import { UsageError } from '../../server/src/cli/startupErrors';

describe('server settings', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'af-settings-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));
  const withFile = (config: Record<string, unknown>) => writeFileSync(join(dataDir, 'config.json'), JSON.stringify(config));

  it('takesAFlagOverItsVariableOverConfigJson', () => {
    withFile({ port: 1111, sandbox: 'docker', logFormat: 'pretty', model: { model: 'from-file', idleTimeoutMs: 5 } });
    const env = { ASTRAFORGE_PORT: '2222', ASTRAFORGE_MODEL: 'from-env', ASTRAFORGE_LOG_FORMAT: 'json' };
    const config = loadConfig(['--data-dir', dataDir, '--port', '3333'], env);
    assert.equal(config.port, 3333);
    assert.equal(config.sandbox, 'docker', "config.json's value stands where nothing overrides it");
    assert.equal(config.logFormat, 'json');
    assert.equal(config.model.model, 'from-env');
    assert.equal(config.model.idleTimeoutMs, 5, "the variable replaces one field of config.json's model, not all of it");
    assert.equal(loadConfig(['--data-dir', dataDir], env).port, 2222);
    assert.equal(loadConfig(['--data-dir', dataDir], {}).port, 1111);
  });

  it('letsConfigJsonsDockerHostWinOverDOCKER_HOST', () => {
    assert.equal(loadConfig(['--data-dir', dataDir], { DOCKER_HOST: 'unix:///env.sock' }).docker.host, 'unix:///env.sock');
    withFile({ docker: { host: 'unix:///file.sock' } });
    assert.equal(loadConfig(['--data-dir', dataDir], { DOCKER_HOST: 'unix:///env.sock' }).docker.host, 'unix:///file.sock');
  });

  it('neverReadsTheApiKeyOrTheRunnerFromConfigJson', () => {
    withFile({ apiKey: 'from-file', runnerBinary: '/tmp/evil' });
    const config = loadConfig(['--data-dir', dataDir], {});
    assert.equal(config.apiKey, undefined);
    assert.equal(config.runnerBinary, undefined);
    assert.equal(loadConfig(['--data-dir', dataDir], { ASTRAFORGE_API_KEY: ' k ' }).apiKey, 'k');
  });

  it('readsTheDataFolderFromItsVariable', () => {
    assert.equal(loadConfig([], { ASTRAFORGE_DATA_DIR: dataDir }).dataDir, dataDir);
  });

  it('refusesAValueTheSettingCannotTakeAsAUsageError', () => {
    assert.throws(() => loadConfig(['--data-dir', dataDir, '--log-level', 'loud'], {}), UsageError);
    assert.throws(
      () => loadConfig(['--data-dir', dataDir], { ASTRAFORGE_DRAIN_SECONDS: '1.5' }),
      /ASTRAFORGE_DRAIN_SECONDS must be a whole number/,
    );
    assert.equal(loadConfig(['--data-dir', dataDir, '--idle-exit-minutes', '0.5'], {}).idleExitMinutes, 0.5);
  });
});

describe('pretty log lines', () => {
  it('showsTimeLevelMessageAndFields', () => {
    const time = Date.UTC(2026, 10, 28, 12, 3, 4, 567);
    const line = JSON.stringify({ level: 40, time, pid: 1, hostname: 'h', msg: 'warm pool off', pool_size: 0, why: 'not root' });
    assert.equal(prettyLine(line), '12:03:04.567 WARN  warm pool off pool_size=0 why="not root"');
  });

  it('passesALineThatIsNotPinosJsonThrough', () => {
    assert.equal(prettyLine('plain text'), 'plain text');
    assert.equal(prettyLine('{"msg":"astraforge server listening"}'), '{"msg":"astraforge server listening"}');
  });

  it('isPrettyOnATerminalAndJsonElsewhereUnlessAsked', () => {
    assert.equal(resolveLogFormat('auto', true), 'pretty');
    assert.equal(resolveLogFormat('auto', false), 'json');
    assert.equal(resolveLogFormat('json', true), 'json');
    assert.equal(resolveLogFormat('pretty', false), 'pretty');
  });
});
