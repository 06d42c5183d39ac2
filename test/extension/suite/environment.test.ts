// .astraforge/environment.json in a real VS Code: the extension contributes
// the file's JSON schema, so the editor completes its fields and marks a
// wrong value, as it does for devcontainer.json.
import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { until } from '../../helpers/until';

describe('AstraForge environment.json', () => {
  let file: vscode.Uri;

  before(async () => {
    await vscode.extensions.getExtension('astraforge.astraforge')!.activate();
    const folder = vscode.workspace.workspaceFolders![0].uri;
    file = vscode.Uri.joinPath(folder, '.astraforge', 'environment.json');
  });

  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.workspace.fs.delete(vscode.Uri.joinPath(file, '..'), { recursive: true });
  });

  it('completesItsFieldsAndMarksAWrongValueFromTheSchema', async () => {
    await vscode.workspace.fs.writeFile(file, Buffer.from('{\n  "setup_timeout_seconds": "ten",\n  \n}\n'));
    const doc = await vscode.workspace.openTextDocument(file);
    await vscode.window.showTextDocument(doc);
    // The JSON language server loads the contributed schema: the string where a number belongs is marked.
    const marked = await until(
      'a diagnostic on setup_timeout_seconds',
      () => vscode.languages.getDiagnostics(file).find((d) => d.range.start.line === 1),
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    assert.match(marked.message, /integer|number/i);
    // Completions on the empty line offer the file's fields with their documentation.
    const labels = await until(
      'completions from the schema',
      async () => {
        const list = await vscode.commands.executeCommand<vscode.CompletionList>(
          'vscode.executeCompletionItemProvider',
          file,
          new vscode.Position(2, 2),
        );
        const names = list.items.map((i) => (typeof i.label === 'string' ? i.label : i.label.label));
        return names.includes('setup') ? names : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    for (const field of ['setup', 'cache_key_files', 'network', 'env', 'image'])
      assert.ok(labels.includes(field), `${field} in ${labels.join(', ')}`);
  });
});
