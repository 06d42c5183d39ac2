// The extension in a real VS Code: activation, its commands, the user's
// background server (found or started, shared, kept across reconnects,
// stopped only when asked), the code action, a run streaming through to the
// sidebar, runs that name their folder, and the review.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { Run, RunEvent } from '@astraforge/contract/runApi';
import type { AstraForgeApi } from '../../../src/extension';
import type { Prompts } from '../../../src/prompts';
import { ServerClient } from '../../../src/server/serverClient';
import { isProcessAlive } from '../../../src/server/serverWatch';
import { readRecord } from '../../../src/server/userServer';
import { listWorkspaceFiles, packSnapshot, planSnapshot } from '../../../src/snapshot/snapshotBuilder';
import { until } from '../../helpers/until';

const COMMANDS = [
  'astraforge.sendSpec',
  'astraforge.fixError',
  'astraforge.showRuns',
  'astraforge.cancelRun',
  'astraforge.followUp',
  'astraforge.connectServer',
  'astraforge.setModelKey',
  'astraforge.showServerLog',
  'astraforge.reviewChanges',
  'astraforge.stopServer',
  'astraforge.showAllRuns',
  'astraforge.showWorkspaceRuns',
];

/** A run created straight through the API (as another window would), from a small folder of its own. */
async function createRunElsewhere(client: ServerClient, workspace: Run['workspace'], command: string): Promise<Run> {
  const root = mkdtempSync(join(tmpdir(), 'af-elsewhere-'));
  writeFileSync(join(root, 'a.txt'), 'a\n');
  const plan = await planSnapshot(root, await listWorkspaceFiles(root), { maxFiles: 100, maxBytes: 1 << 20 });
  const snapshot = await client.uploadSnapshot(packSnapshot(root, plan)).finally(() => rmSync(root, { recursive: true, force: true }));
  return client.createRun({
    agent: 'command',
    task: { kind: 'spec', prompt: command, command },
    snapshot_id: snapshot.snapshot_id,
    workspace,
  });
}

describe('AstraForge extension', () => {
  let api: AstraForgeApi;

  /** Sends a task to the command agent from the palette command and waits for it to succeed. */
  async function runCommand(command: string): Promise<string> {
    const events: RunEvent[] = [];
    const sub = api.runs.onDidReceiveEvents((b) => events.push(...b.events));
    try {
      const runId = await vscode.commands.executeCommand<string>('astraforge.sendSpec', { prompt: command, agent: 'command', command });
      assert.ok(runId, 'sendSpec returned the run id');
      const finished = await until('the run', () => events.find((e) => e.type === 'run.finished'), { timeoutMs: 60_000 });
      assert.equal(finished.status, 'succeeded', `the run failed: ${String(finished.error)}`);
      return runId;
    } finally {
      sub.dispose();
    }
  }

  before(async () => {
    const ext = vscode.extensions.getExtension<AstraForgeApi>('astraforge.astraforge');
    assert.ok(ext, 'the extension is installed');
    api = await ext.activate();
  });

  it('activatesAndRegistersItsCommands', async () => {
    const all = await vscode.commands.getCommands(true);
    for (const id of COMMANDS) assert.ok(all.includes(id), `${id} is registered`);
  });

  it('startsTheUsersBackgroundServerDetachedFromTheWindow', async () => {
    await until('the server', () => api.connection.state.status === 'connected' || undefined, { timeoutMs: 60_000 });
    const client = await api.connection.client();
    assert.ok(await client.health());
    assert.match(api.connection.state.serverUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    // Found through its record in the user's data folder (this test's own: code-server's user data).
    const record = readRecord(api.connection.serverDataDir);
    assert.ok(record, 'the server keeps a record in its data folder');
    assert.equal(record.pid, api.connection.serverPid);
    assert.equal(record.url, api.connection.state.serverUrl);
    // Its own session and process group, so the window's end (and its signals) do not reach it.
    const sessionOf = (pid: number | 'self') => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [pgrp, sid] = stat
        .slice(stat.lastIndexOf(')') + 2)
        .split(' ')
        .slice(2, 4)
        .map(Number);
      return { pgrp, sid };
    };
    assert.deepEqual(sessionOf(record.pid), { pgrp: record.pid, sid: record.pid }, 'the leader of its own session and group');
    assert.notEqual(sessionOf('self').sid, record.pid);
    const info = await client.serverInfo();
    assert.equal(info.pid, record.pid);
    assert.match(info.build, /^\d+\.\d+\.\d+\+\d+#[0-9a-f]{16}$/, 'the build names the code and the settings');
  });

  it('offersFixInSandboxOnADiagnostic', async () => {
    const folder = vscode.workspace.workspaceFolders![0].uri;
    const uri = vscode.Uri.joinPath(folder, 'src', 'total.js');
    await vscode.window.showTextDocument(uri, { preview: false });
    const diagnostics = vscode.languages.createDiagnosticCollection('astraforge-test');
    const range = new vscode.Range(3, 2, 3, 40);
    diagnostics.set(uri, [new vscode.Diagnostic(range, 'the loop skips the first line', vscode.DiagnosticSeverity.Error)]);
    try {
      // VS Code cancels the request while the built-in TypeScript server starts on the file: asked again until it answers.
      const actions = await until(
        'the code actions',
        () =>
          Promise.resolve(vscode.commands.executeCommand<vscode.CodeAction[]>('vscode.executeCodeActionProvider', uri, range)).then(
            (a) => a,
            (e: Error) => {
              if (e.name !== 'Canceled' && e.message !== 'Canceled') throw e;
              return undefined;
            },
          ),
        { timeoutMs: 30_000, intervalMs: 250 },
      );
      const fix = actions.find((a) => a.title === 'Fix in sandbox (AstraForge)');
      assert.ok(fix, `actions: ${actions.map((a) => a.title).join(', ')}`);
      assert.equal(fix.command?.command, 'astraforge.fixError');
      const args = fix.command?.arguments?.[0] as { error: string; range: vscode.Range };
      assert.match(args.error, /src\/total\.js:4:3: the loop skips the first line/);
      assert.equal(args.range.start.line, 3);
    } finally {
      diagnostics.dispose();
    }
  });

  it('streamsARunIntoTheSidebar', async () => {
    // The view loads (and says so) when it is shown.
    const ready = new Promise<void>((resolve) => {
      const sub = api.sidebar.onDidReceiveMessage((m) => {
        if (m.type === 'ready') {
          sub.dispose();
          resolve();
        }
      });
    });
    await vscode.commands.executeCommand('astraforge.showSidebar');
    await ready;
    const events: RunEvent[] = [];
    let renderedSeq = 0;
    const sub = api.runs.onDidReceiveEvents((b) => events.push(...b.events));
    const drawn = api.sidebar.onDidReceiveMessage((m) => {
      if (m.type === 'rendered') renderedSeq = Math.max(renderedSeq, m.lastSeq);
    });
    try {
      const runId = await vscode.commands.executeCommand<string>('astraforge.sendSpec', {
        prompt: 'append a line',
        agent: 'command',
        command: 'for i in 1 2 3; do echo hello-$i; done; echo extra >> README.md',
      });
      assert.ok(runId, 'sendSpec returned the run id');
      const finished = await until('run.finished', () => events.find((e) => e.type === 'run.finished'), { timeoutMs: 60_000 });
      assert.equal(finished.status, 'succeeded', `the run failed: ${String(finished.error)}`);
      assert.deepEqual(
        events.map((e) => e.seq),
        events.map((_, i) => i + 1),
        'the view got every event once, in order',
      );
      const out = events
        .filter((e) => e.type === 'command.output')
        .map((e) => e.text)
        .join('');
      assert.equal(out, 'hello-1\nhello-2\nhello-3\n');
      assert.equal(api.runs.selectedRun?.id, runId);
      const folder = vscode.workspace.workspaceFolders![0];
      assert.deepEqual(api.runs.selectedRun?.workspace, { uri: folder.uri.toString(), name: folder.name }, 'the run names its folder');
      const client = await api.connection.client();
      const diff = await client.diff(runId);
      assert.deepEqual(
        diff.files.map((f) => f.path),
        ['README.md'],
      );
      // The webview itself drew the run through its last event.
      await until('the view to draw the last event', () => renderedSeq >= finished.seq || undefined, { timeoutMs: 10_000 });
    } finally {
      sub.dispose();
      drawn.dispose();
    }
  });

  it('keepsTheShownRunWhenTheViewIsHiddenAndShownAgain', async () => {
    const shown = api.runs.selectedRun;
    assert.ok(shown, 'a run is shown (from the previous test)');
    // The view is not kept alive while hidden: showing it again reloads it from its saved state.
    await vscode.commands.executeCommand('workbench.view.explorer');
    let renderedSeq = 0;
    const ready = new Promise<string | undefined>((resolve) => {
      const sub = api.sidebar.onDidReceiveMessage((m) => {
        if (m.type === 'ready') {
          sub.dispose();
          resolve(m.runId);
        }
      });
    });
    const drawn = api.sidebar.onDidReceiveMessage((m) => {
      if (m.type === 'rendered' && m.runId === shown.id) renderedSeq = Math.max(renderedSeq, m.lastSeq);
    });
    try {
      await vscode.commands.executeCommand('astraforge.showSidebar');
      assert.equal(await ready, shown.id, 'the reloaded view asks for the run it showed');
      // Replayed from the server's log, through the last event.
      await until('the replayed run', () => renderedSeq >= shown.last_seq || undefined, { timeoutMs: 15_000 });
    } finally {
      drawn.dispose();
    }
  });

  it('reviewsAndAppliesARunWithoutLosingALocalEdit', async () => {
    const folder = vscode.workspace.workspaceFolders![0].uri;
    const file = (p: string) => vscode.Uri.joinPath(folder, p);
    const read = async (p: string) => Buffer.from(await vscode.workspace.fs.readFile(file(p))).toString();
    await vscode.workspace.fs.writeFile(file('notes.txt'), Buffer.from('a\nb\nc\nd\ne\n'));
    await vscode.workspace.fs.writeFile(file('gone.txt'), Buffer.from('old\n'));
    await vscode.workspace.fs.writeFile(file('plain.txt'), Buffer.from('not open\n'));
    await vscode.workspace.fs.writeFile(file('blob.bin'), Buffer.from([0, 1, 2, 3]));
    await vscode.workspace.fs.writeFile(file('mine-gone.txt'), Buffer.from('v1\n'));
    const runId = await runCommand(
      "sed -i 's/^b$/B/' notes.txt && echo fresh > added.txt && rm gone.txt && echo edited > plain.txt && printf 'X\\000Y' > blob.bin && echo v2 > mine-gone.txt",
    );
    // Meanwhile the user deletes a file the agent changed,
    await vscode.workspace.fs.delete(file('mine-gone.txt'));
    // and edits another line of a file the agent changed, in the editor, unsaved.
    const doc = await vscode.workspace.openTextDocument(file('notes.txt'));
    const editor = await vscode.window.showTextDocument(doc);
    await editor.edit((e) => e.replace(new vscode.Range(4, 0, 4, 1), 'E (mine)'));

    await vscode.commands.executeCommand('astraforge.reviewChanges', runId);
    const review = api.review.current!;
    assert.deepEqual(review.files.map((f) => `${f.path}:${f.status}:${f.kind}`).sort(), [
      'added.txt:added:write',
      'blob.bin:modified:write',
      'gone.txt:deleted:delete',
      'mine-gone.txt:modified:choose',
      'notes.txt:modified:write',
      'plain.txt:modified:write',
    ]);
    assert.ok(review.files.find((f) => f.path === 'notes.txt')!.localEdited);

    // A file no editor has open: the edit is only a file operation.
    await vscode.commands.executeCommand('astraforge.review.acceptFile', 'plain.txt');
    assert.equal(await read('plain.txt'), 'edited\n', 'a file not open in an editor is written (and saved, as refactorings are)');
    // and its editor's Undo takes the change back.
    const plain = await vscode.workspace.openTextDocument(file('plain.txt'));
    await vscode.window.showTextDocument(plain);
    await vscode.commands.executeCommand('undo');
    assert.equal(plain.getText(), 'not open\n');
    await vscode.commands.executeCommand('redo');
    assert.equal(plain.getText(), 'edited\n');
    await plain.save();
    await vscode.commands.executeCommand('astraforge.review.acceptAll');
    assert.equal(doc.getText(), 'a\nB\nc\nd\nE (mine)\n', "the agent's line and the user's line, both");
    assert.equal(await read('added.txt'), 'fresh\n');
    assert.deepEqual([...(await vscode.workspace.fs.readFile(file('blob.bin')))], [88, 0, 89], 'the binary file, byte for byte');
    await assert.rejects(Promise.resolve(vscode.workspace.fs.stat(file('gone.txt'))));
    assert.equal(api.review.decision('notes.txt'), 'accepted');
    assert.equal(api.review.decision('mine-gone.txt'), 'pending', 'Accept All leaves what the user must decide');
    await assert.rejects(Promise.resolve(vscode.workspace.fs.stat(file('mine-gone.txt'))));
    // The user decides to take the agent's version back.
    await api.review.accept(['mine-gone.txt'], { takeAgentSide: true });
    assert.equal(await read('mine-gone.txt'), 'v2\n');
    assert.match(api.review.summary()!, /^6 files · \+\d+ −\d+ · all decided$/);
    await vscode.commands.executeCommand('astraforge.review.showAll');
    assert.equal(vscode.window.tabGroups.activeTabGroup.activeTab?.label.startsWith('AstraForge run'), true, 'the multi-file diff view');

    // Undo in the editor takes the merge back to the user's own text.
    await vscode.window.showTextDocument(doc);
    await vscode.commands.executeCommand('undo');
    assert.equal(doc.getText(), 'a\nb\nc\nd\nE (mine)\n');
    await doc.save();
  });

  it('acceptsAndRejectsSingleChangesAndKeepsConflictsForTheUser', async () => {
    const folder = vscode.workspace.workspaceFolders![0].uri;
    const file = (p: string) => vscode.Uri.joinPath(folder, p);
    const read = async (p: string) => Buffer.from(await vscode.workspace.fs.readFile(file(p))).toString();
    const lines = 'a\nb\nc\nd\ne\nf\ng\n';
    await vscode.workspace.fs.writeFile(file('hunks.txt'), Buffer.from(lines));
    await vscode.workspace.fs.writeFile(file('clash.txt'), Buffer.from(lines));
    await vscode.workspace.fs.writeFile(file('before.txt'), Buffer.from('keep\nthe\nsame\nlines\nhere\n'));
    const runId = await runCommand("sed -i 's/^b$/B/; s/^f$/F/' hunks.txt clash.txt && mv before.txt after.txt && echo more >> after.txt");
    // The user changed a line the agent also changed.
    const clash = await vscode.workspace.openTextDocument(file('clash.txt'));
    await (await vscode.window.showTextDocument(clash)).edit((e) => e.replace(new vscode.Range(1, 0, 1, 1), 'b (mine)'));

    await vscode.commands.executeCommand('astraforge.reviewChanges', runId);
    const review = api.review.current!;
    assert.deepEqual(review.files.map((f) => `${f.path}:${f.status}`).sort(), [
      'after.txt:renamed',
      'clash.txt:modified',
      'hunks.txt:modified',
    ]);

    // One change accepted, the other rejected, through the CodeLens commands.
    const doc = await vscode.workspace.openTextDocument(file('hunks.txt'));
    await vscode.window.showTextDocument(doc);
    const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', doc.uri);
    const ours = lenses.filter((l) => l.command?.command.startsWith('astraforge.review.'));
    assert.deepEqual(
      ours.map((l) => `${l.range.start.line}:${l.command!.command}`),
      [
        '1:astraforge.review.acceptHunk',
        '1:astraforge.review.rejectHunk',
        '5:astraforge.review.acceptHunk',
        '5:astraforge.review.rejectHunk',
      ],
    );
    await vscode.commands.executeCommand(ours[0].command!.command, ...ours[0].command!.arguments!);
    assert.equal(doc.getText(), 'a\nB\nc\nd\ne\nf\ng\n');
    await vscode.commands.executeCommand(ours[3].command!.command, ...ours[3].command!.arguments!);
    assert.equal(doc.getText(), 'a\nB\nc\nd\ne\nf\ng\n', 'the rejected change is not applied');
    assert.equal(api.review.decision('hunks.txt'), 'accepted', 'every change of the file is decided');
    await vscode.commands.executeCommand('undo');
    assert.equal(doc.getText(), lines, 'undo takes the accepted change back');

    // In the diff editor, on the agent's side: the change at the cursor is accepted into the file.
    // (After the undo the accepted change is offered again; the rejected one stays rejected.)
    await api.review.showDiff('hunks.txt', false);
    const agentSide = vscode.window.activeTextEditor!;
    assert.equal(agentSide.document.uri.scheme, 'astraforge-review');
    agentSide.selection = new vscode.Selection(0, 0, 0, 0);
    assert.equal(await vscode.commands.executeCommand('astraforge.review.nextHunk'), true);
    assert.equal(agentSide.selection.active.line, 1, 'the next change is on line 2');
    await vscode.commands.executeCommand('astraforge.review.acceptHunk');
    assert.equal(doc.getText(), 'a\nB\nc\nd\ne\nf\ng\n');
    await vscode.commands.executeCommand('undo');

    // The conflicting line is never overwritten: both sides are kept between markers.
    const clashHunks = api.review.hunks(clash)!;
    assert.deepEqual(
      clashHunks.map((h) => [h.startLine, h.conflict]),
      [
        [1, true],
        [5, false],
      ],
    );
    await vscode.commands.executeCommand('astraforge.review.acceptFile', 'clash.txt');
    assert.match(clash.getText(), /<<<<<<< local\nb \(mine\)\n\|\|\|\|\|\|\| base\nb\n=======\nB\n>>>>>>> proposed\n/);
    assert.match(clash.getText(), /\nF\ng\n$/, "the agent's clean change lands too");

    // The rename: the old file goes, the new one has the agent's content.
    const renamed = await api.review.accept(['after.txt']);
    assert.deepEqual(renamed, { applied: ['after.txt'], conflicts: [], skipped: [], refused: [], undoable: undefined });
    const after = await vscode.workspace.openTextDocument(file('after.txt'));
    assert.equal(after.getText(), 'keep\nthe\nsame\nlines\nhere\nmore\n');
    await after.save();
    assert.equal(await read('after.txt'), 'keep\nthe\nsame\nlines\nhere\nmore\n');
    await assert.rejects(Promise.resolve(vscode.workspace.fs.stat(file('before.txt'))));

    // The review and its decisions outlive the window: a reload restores them from the workspace state.
    const before = api.review.current;
    (api.review as unknown as { review?: unknown }).review = undefined; // what a reload leaves
    assert.equal(await api.review.restore(), runId);
    assert.notEqual(api.review.current, before, 'a fresh review, from the saved state');
    assert.deepEqual(
      ['hunks.txt', 'clash.txt', 'after.txt'].map((p) => api.review.decision(p)),
      ['accepted', 'accepted', 'accepted'],
    );
    await clash.save();
    await doc.save();
  });

  it('appliesALargeReviewStraightToDiskAndUndoesIt', async () => {
    const folder = vscode.workspace.workspaceFolders![0].uri;
    const file = (p: string) => vscode.Uri.joinPath(folder, p);
    const read = async (p: string) => Buffer.from(await vscode.workspace.fs.readFile(file(p))).toString();
    const settings = vscode.workspace.getConfiguration('astraforge.review');
    // Three files not open in an editor make an apply large here (100 by default).
    await settings.update('largeApplyFiles', 3, vscode.ConfigurationTarget.Global);
    try {
      for (const n of [1, 2, 3]) await vscode.workspace.fs.writeFile(file(`large/f${n}.txt`), Buffer.from(`f${n}\n`));
      await vscode.workspace.fs.writeFile(file('large/run.sh'), Buffer.from('echo 1\n'));
      chmodSync(file('large/run.sh').fsPath, 0o755);
      await vscode.workspace.fs.writeFile(file('large/gone.txt'), Buffer.from('bye\n'));
      await vscode.workspace.fs.writeFile(file('large/pic.bin'), Buffer.from([0, 1, 2]));
      await vscode.workspace.fs.writeFile(file('large/open.txt'), Buffer.from('open\n'));
      const runId = await runCommand(
        "cd large && sed -i 's/$/ changed/' f1.txt f2.txt f3.txt open.txt && echo 'echo 2' > run.sh && rm gone.txt && mkdir -p sub && echo new > sub/added.txt && printf 'Z\\000Z' > pic.bin",
      );
      // One file is open in an editor: it goes through the WorkspaceEdit, so its Ctrl+Z still works.
      const open = await vscode.workspace.openTextDocument(file('large/open.txt'));
      await vscode.window.showTextDocument(open);
      await vscode.commands.executeCommand('astraforge.reviewChanges', runId);

      const r = await api.review.accept();
      assert.ok(r.undoable, 'part of it went straight to disk');
      assert.equal(r.applied.length, 8);
      assert.equal(await read('large/f2.txt'), 'f2 changed\n');
      assert.equal(await read('large/run.sh'), 'echo 2\n');
      assert.equal(statSync(file('large/run.sh').fsPath).mode & 0o777, 0o755, 'written in place, the script stays executable');
      assert.equal(await read('large/sub/added.txt'), 'new\n');
      assert.deepEqual([...(await vscode.workspace.fs.readFile(file('large/pic.bin')))], [90, 0, 90]);
      await assert.rejects(Promise.resolve(vscode.workspace.fs.stat(file('large/gone.txt'))));
      assert.equal(open.getText(), 'open changed\n');
      assert.equal(open.isDirty, false, 'saved, as VS Code saves a refactoring');
      assert.equal(api.review.decision('large/f1.txt'), 'accepted');

      // The user edits one of the files afterwards: Undo leaves that one alone.
      await vscode.workspace.fs.writeFile(file('large/f3.txt'), Buffer.from('f3 changed\nmine\n'));
      const undo = await vscode.commands.executeCommand<{ restored: string[]; kept: string[]; label: string }>(
        'astraforge.review.undoApply',
      );
      assert.equal(undo.label, 'accept 8 files', 'the last apply is the one undone');
      assert.deepEqual(undo.kept, ['large/f3.txt']);
      assert.equal(undo.restored.length, 7);
      assert.equal(await read('large/f1.txt'), 'f1\n');
      assert.equal(await read('large/f3.txt'), 'f3 changed\nmine\n', "the user's edit is kept");
      assert.equal(await read('large/run.sh'), 'echo 1\n');
      assert.equal(await read('large/gone.txt'), 'bye\n');
      assert.deepEqual([...(await vscode.workspace.fs.readFile(file('large/pic.bin')))], [0, 1, 2], 'the binary file, byte for byte');
      await assert.rejects(Promise.resolve(vscode.workspace.fs.stat(file('large/sub/added.txt'))));
      assert.equal(open.getText(), 'open\n', 'the open file, through the editor');
      assert.equal(await read('large/open.txt'), 'open\n', 'and saved');
      assert.equal(api.review.decision('large/f1.txt'), 'pending', 'what was undone is offered again');
      assert.equal(api.review.decision('large/f3.txt'), 'accepted');
      // The message's Undo names this apply: once undone, it does nothing more.
      assert.equal(await api.review.undoApply(r.undoable), undefined);
    } finally {
      await settings.update('largeApplyFiles', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it('showsAnAddedFileBesideAnEmptyDocument', async () => {
    const folder = vscode.workspace.workspaceFolders![0].uri;
    const runId = await runCommand('mkdir -p fresh && printf "one\\ntwo\\n" > fresh/brand-new.txt');
    // As a click in the Review list does.
    await vscode.commands.executeCommand('astraforge.reviewChanges', runId);
    await vscode.commands.executeCommand('astraforge.review.showFile', 'fresh/brand-new.txt');
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    assert.ok(input instanceof vscode.TabInputTextDiff, 'a diff editor is open');
    // The left side is an empty document (the user has no such file), not a file that is not there.
    const yours = await vscode.workspace.openTextDocument(input.original);
    assert.equal(yours.getText(), '');
    assert.notEqual(input.original.toString(), vscode.Uri.joinPath(folder, 'fresh/brand-new.txt').toString());
    const agents = await vscode.workspace.openTextDocument(input.modified);
    assert.equal(agents.getText(), 'one\ntwo\n');
    // The editor's own Accept on that side writes the file.
    await vscode.commands.executeCommand('astraforge.review.acceptFile', api.review.pathOf(input.original));
    assert.equal(
      Buffer.from(await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder, 'fresh/brand-new.txt'))).toString(),
      'one\ntwo\n',
    );
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await api.review.close();
  });

  it('closesTheReviewOfARunWhenAnotherRunIsShownAndKeepsItsDecisions', async () => {
    const first = await runCommand('printf "a\\n" > review-a.txt && printf "b\\n" > review-b.txt');
    await vscode.commands.executeCommand('astraforge.reviewChanges', first);
    await vscode.commands.executeCommand('astraforge.review.rejectFile', 'review-a.txt');
    assert.equal(api.review.decision('review-a.txt'), 'rejected');
    // Another run is started and shown: the old review leaves the sidebar.
    const second = await runCommand('echo second');
    assert.equal(api.runs.selectedRun?.id, second);
    await until('the old review to close', () => api.review.current === undefined || undefined, { timeoutMs: 5000 });
    // Opened again, it has the decisions made before.
    await vscode.commands.executeCommand('astraforge.reviewChanges', first);
    assert.equal(api.review.current?.runId, first);
    assert.equal(api.review.decision('review-a.txt'), 'rejected');
    assert.equal(api.review.decision('review-b.txt'), 'pending');
    // Showing that same run again leaves its review open.
    await api.runs.select(first);
    assert.equal(api.review.current?.runId, first);
    await api.review.close();
  });

  it('reviewsARunAgainstItsOwnFolderWithoutAsking', async () => {
    const asked: string[] = [];
    const realModal = api.prompts.modal;
    api.prompts.modal = async (message: string) => {
      asked.push(message);
      return undefined;
    };
    try {
      const folder = vscode.workspace.workspaceFolders![0];
      const runId = await runCommand('echo reviewed >> README.md');
      await vscode.commands.executeCommand('astraforge.reviewChanges', runId);
      assert.equal(api.review.current?.runId, runId);
      assert.equal(api.review.current?.folder.toString(), folder.uri.toString());
      assert.deepEqual(asked, [], 'its own folder, without a question');
      await api.review.close();

      // A run from a folder this window does not have: the user is told before it is compared with this one.
      const client = await api.connection.client();
      const other = await createRunElsewhere(
        client,
        { uri: 'file:///home/someone/other-project', name: 'other-project' },
        'echo x > x.txt',
      );
      await until('the other run to end', async () => (await client.getRun(other.id)).status === 'succeeded' || undefined, {
        timeoutMs: 60_000,
      });
      await vscode.commands.executeCommand('astraforge.reviewChanges', other.id);
      assert.equal(asked.length, 1);
      assert.match(asked[0], /made from other-project, which is not open in this window/);
      assert.equal(api.review.current, undefined, 'declined: no review opened');
    } finally {
      api.prompts.modal = realModal;
    }
  });

  it('listsThisWorkspacesRunsUnlessAskedForAll', async () => {
    const client = await api.connection.client();
    const other = await createRunElsewhere(client, { uri: 'file:///home/someone/listed-elsewhere', name: 'listed-elsewhere' }, 'true');
    await api.runs.refresh();
    assert.ok(api.runs.runs.length > 0, "this workspace's runs are listed");
    const folder = vscode.workspace.workspaceFolders![0].uri.toString();
    assert.ok(
      api.runs.runs.every((r) => r.workspace?.uri === folder),
      'only runs of this folder',
    );
    try {
      await vscode.commands.executeCommand('astraforge.showAllRuns');
      await until('every run of the user', () => api.runs.runs.some((r) => r.id === other.id) || undefined, { timeoutMs: 10_000 });
    } finally {
      await vscode.commands.executeCommand('astraforge.showWorkspaceRuns');
    }
    await until("this workspace's runs again", () => !api.runs.runs.some((r) => r.id === other.id) || undefined, { timeoutMs: 10_000 });
  });

  it('listsARunAnotherWindowStartsAsItStartsAndFollowsItToItsEnd', async () => {
    // Another window on this folder, and one on another folder, start runs through the same server.
    const client = await api.connection.client();
    const folder = vscode.workspace.workspaceFolders![0];
    const seen: string[] = [];
    const sub = api.runs.onDidChangeRuns((runs) => seen.push(...runs.map((r) => r.id)));
    try {
      const elsewhere = await createRunElsewhere(client, { uri: 'file:///home/someone/not-this-one', name: 'not-this-one' }, 'true');
      const mine = await createRunElsewhere(
        client,
        { uri: folder.uri.toString(), name: folder.name },
        'sleep 1; echo from the other window',
      );
      // No refresh asked: the server's stream of run changes brings it, then its end.
      const listed = await until('the other window’s run in the list', () => api.runs.runs.find((r) => r.id === mine.id), {
        timeoutMs: 10_000,
      });
      assert.notEqual(listed.status, 'succeeded', 'listed while it runs, not only once it ended');
      await until('its end in the list', () => api.runs.runs.find((r) => r.id === mine.id && r.status === 'succeeded'), {
        timeoutMs: 30_000,
      });
      await until('the other folder’s run to end', async () => (await client.getRun(elsewhere.id)).status === 'succeeded' || undefined, {
        timeoutMs: 30_000,
      });
      assert.ok(!seen.includes(elsewhere.id), 'a run of another folder is not listed here');
    } finally {
      sub.dispose();
    }
  });

  it('startsAServerAgainWhenItsServerDies', async () => {
    const pid = api.connection.serverPid!;
    process.kill(pid, 'SIGKILL');
    const again = await until(
      'a new server',
      () => (api.connection.state.status === 'connected' && api.connection.serverPid !== pid && api.connection.serverPid) || undefined,
      { timeoutMs: 30_000 },
    );
    assert.equal(readRecord(api.connection.serverDataDir)?.pid, again);
    assert.ok(await (await api.connection.client()).health());
  });

  it('appliesNewServerSettingsOnceTheRunsUnderWayEnd', async () => {
    const pid = api.connection.serverPid!;
    const folder = vscode.workspace.workspaceFolders![0];
    const long = await createRunElsewhere(await api.connection.client(), { uri: folder.uri.toString(), name: folder.name }, 'sleep 60');
    await until('the run to start', async () => (await (await api.connection.client()).getRun(long.id)).status === 'running', {
      timeoutMs: 60_000,
    });
    const envOf = (p: number) => readFileSync(`/proc/${p}/environ`, 'utf8').split('\0');
    const modelBefore = process.env.ASTRAFORGE_MODEL;
    process.env.ASTRAFORGE_MODEL = 'model-after-the-runs';
    try {
      // As Set Model Key does: the server takes settings at start, and a run is under way on it.
      await api.connection.connect({ settingsChanged: true });
      assert.equal(api.connection.state.status, 'connected', api.connection.state.message);
      assert.equal(api.connection.serverPid, pid, 'the server keeps its run');
      assert.equal((await (await api.connection.client()).serverInfo()).stopping, 'idle', 'and stops once it ends');
      await (await api.connection.client()).cancel(long.id);
      const replaced = await until(
        'the server with the new settings',
        () => (api.connection.state.status === 'connected' && api.connection.serverPid !== pid && api.connection.serverPid) || undefined,
        { timeoutMs: 30_000 },
      );
      assert.ok(envOf(replaced).includes('ASTRAFORGE_MODEL=model-after-the-runs'));
      assert.equal((await (await api.connection.client()).getRun(long.id)).status, 'cancelled', 'the run ended as it did');
    } finally {
      if (modelBefore === undefined) delete process.env.ASTRAFORGE_MODEL;
      else process.env.ASTRAFORGE_MODEL = modelBefore;
      await api.connection.connect({ settingsChanged: true });
    }
  });

  it('keepsTheServerAcrossReconnectsAndStopsItOnlyWhenAsked', async () => {
    const pid = api.connection.serverPid!;
    const url = api.connection.state.serverUrl;
    // A window connecting again (a reload, a settings change that does not concern the server) uses the same server.
    await api.connection.connect();
    assert.equal(api.connection.state.status, 'connected', api.connection.state.message);
    assert.equal(api.connection.serverPid, pid);
    assert.equal(api.connection.state.serverUrl, url);

    // A run under way: Stop Server asks first, and the run comes back interrupted.
    const client = await api.connection.client();
    const folder = vscode.workspace.workspaceFolders![0];
    const long = await createRunElsewhere(client, { uri: folder.uri.toString(), name: folder.name }, 'sleep 60');
    await until('the run to start', async () => (await client.getRun(long.id)).status === 'running' || undefined, { timeoutMs: 60_000 });
    const asked: { message: string; choices: string[] }[] = [];
    const realModal = api.prompts.modal;
    let answer: string | undefined;
    api.prompts.modal = async (message: string, _detail: string | undefined, ...choices: string[]) => {
      asked.push({ message, choices });
      return answer;
    };
    try {
      answer = undefined;
      assert.equal(await vscode.commands.executeCommand('astraforge.stopServer'), false, 'the user kept it running');
      assert.ok(isProcessAlive(pid));
      assert.match(asked[0].message, /1 run is still under way/);
      answer = 'Stop Server';
      assert.equal(await vscode.commands.executeCommand('astraforge.stopServer'), true);
    } finally {
      api.prompts.modal = realModal as Prompts['modal'];
    }
    assert.equal(isProcessAlive(pid), false, 'the server is gone');
    assert.equal(readRecord(api.connection.serverDataDir), undefined, 'and its record with it');
    assert.equal(await new ServerClient(url!, 'x').health(), false, 'nothing answers on its port');
    assert.equal(api.connection.state.status, 'error');
    assert.match(api.connection.state.message ?? '', /stopped/);

    // The next use starts a new one, which has the run, interrupted.
    const again = await api.connection.client();
    assert.notEqual(api.connection.serverPid, pid);
    assert.equal((await again.getRun(long.id)).status, 'interrupted');
  });
});
