// A host the egress proxy refused, allowed from the sidebar in a real VS
// Code: the background server allows a host on this machine (by name, as a
// private mirror is), the folder's runs start with another host allowed,
// the run's curl is refused and says so, and Allow for this workspace adds
// the host to the folder's settings and lets the run go on: the same curl,
// in a follow-up, reaches it.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { RunEvent } from '@astraforge/contract/runApi';
import type { AstraForgeApi } from '../../../src/extension';
import { until } from '../../helpers/until';

describe('AstraForge network', () => {
  let api: AstraForgeApi;
  let web: Server;
  let port: number;
  let folder: vscode.WorkspaceFolder;

  before(async () => {
    api = (await vscode.extensions.getExtension<AstraForgeApi>('astraforge.astraforge')!.activate())!;
    await api.connection.client();
    folder = vscode.workspace.workspaceFolders![0];
    web = createServer((_req, res) => res.end('hello from the allowed host\n'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    port = (web.address() as AddressInfo).port;
    // The server may give runs this host (a mirror on this machine: named, resolved and allowed although private).
    writeFileSync(
      join(api.connection.serverDataDir, 'config.json'),
      JSON.stringify({
        network: {
          allow: [`mirror.test:${port}`, 'other.test'],
          resolve: { 'mirror.test': '127.0.0.1' },
          allowPrivate: [`127.0.0.1:${port}`],
        },
      }),
    );
    await api.connection.stopServer();
    await api.connection.client();
    await vscode.workspace
      .getConfiguration('astraforge', folder.uri)
      .update('network.allow', ['other.test'], vscode.ConfigurationTarget.WorkspaceFolder);
  });

  after(async () => {
    await vscode.workspace
      .getConfiguration('astraforge', folder.uri)
      .update('network.allow', undefined, vscode.ConfigurationTarget.WorkspaceFolder);
    rmSync(join(api.connection.serverDataDir, 'config.json'), { force: true });
    await api.connection.stopServer();
    await api.connection.client();
    await new Promise((r) => web.close(r));
  });

  it('allowsABlockedHostForThisWorkspaceAndTheRunGoesOn', async () => {
    const events: RunEvent[] = [];
    const sub = api.runs.onDidReceiveEvents((b) => events.push(...b.events));
    try {
      const command = `curl -sS --max-time 10 http://mirror.test:${port}/; true`;
      const runId = await vscode.commands.executeCommand<string>('astraforge.sendSpec', { prompt: command, agent: 'command', command });
      assert.ok(runId);
      const blocked = await until('the refusal', () => events.find((e) => e.type === 'network.blocked'), { timeoutMs: 60_000 });
      assert.equal(blocked.host, 'mirror.test');
      assert.equal(blocked.port, port);
      await until('the first turn to end', () => events.find((e) => e.type === 'run.finished'), { timeoutMs: 60_000 });
      assert.equal((await api.runs.run(runId)).network?.mode, 'allowlist', 'the folder setting gave the run a network');

      // What the sidebar's Allow for this workspace does.
      await vscode.commands.executeCommand('astraforge.allowHost', runId, 'mirror.test', port, 'workspace');
      const reached = await until(
        'the follow-up to reach the host',
        () => events.find((e) => e.type === 'command.output' && e.text.includes('hello from the allowed host')),
        { timeoutMs: 60_000 },
      );
      assert.ok(reached);
      assert.deepEqual(vscode.workspace.getConfiguration('astraforge', folder.uri).get('network.allow'), [
        'other.test',
        `mirror.test:${port}`,
      ]);
    } finally {
      sub.dispose();
    }
  });
});
