// A host the egress proxy refused, allowed from the sidebar: for this
// workspace (added to its astraforge.network.allow, so later runs get it)
// or once (this run only). Either way the run goes on with a follow-up that
// widens its sandbox's policy; the server bounds it by its own, as always.
import * as vscode from 'vscode';
import type { NetworkPolicyRequest } from '@astraforge/contract/networkPolicy';
import type { RunsController } from './runsController';

export type AllowScope = 'workspace' | 'once';

/** The allowlist entry for a refused host:port: the bare host covers the web ports, any other port is named. */
export function allowEntry(host: string, port: number): string {
  return port === 80 || port === 443 ? host : `${host}:${port}`;
}

export async function allowHost(runs: RunsController, runId: string, host: string, port: number, scope: AllowScope): Promise<void> {
  const run = await runs.run(runId);
  const entry = allowEntry(host, port);
  if (scope === 'workspace') {
    const folder = run.workspace ? vscode.workspace.getWorkspaceFolder(vscode.Uri.parse(run.workspace.uri)) : undefined;
    if (!folder) throw new Error(`this run's folder is not open in this window: allow ${entry} once, or from a window on it`);
    const cfg = vscode.workspace.getConfiguration('astraforge', folder.uri);
    const current = cfg.get<string[]>('network.allow', []);
    if (!current.includes(entry)) await cfg.update('network.allow', [...current, entry], vscode.ConfigurationTarget.WorkspaceFolder);
  }
  const network: NetworkPolicyRequest = { mode: 'allowlist', allow: [...new Set([...(run.network?.allow ?? []), entry])] };
  // The command agent takes another command, not a message: the same one again.
  const again = run.agent === 'command' ? run.task.command : undefined;
  await runs.followUp(runId, `Network access to ${entry} is allowed now; go on with the task.`, again, network);
}
