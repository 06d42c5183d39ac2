// The settings that decide where a key or the workspace goes, or what runs
// with them: `astraforge.server.url`, `astraforge.model.baseUrl` and
// `astraforge.codex.path`. They are machine-scoped in package.json, so a
// repository's .vscode/settings.json cannot set them; and they are read here
// from the user's own settings (or the default) only, so that a VS Code that
// would still apply a workspace or folder value does not either. Imports
// only types of `vscode`: the caller passes the configuration.
import type * as vscode from 'vscode';

export type UserOnlySetting = 'server.url' | 'model.baseUrl' | 'codex.path';

/** What inspect() reports of a setting, as far as this module reads it. */
export interface Inspected<T> {
  defaultValue?: T;
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

/** The user's value, else the default: never a workspace's or a folder's. */
export function userLevelValue<T>(inspected: Inspected<T> | undefined): T | undefined {
  return inspected?.globalValue ?? inspected?.defaultValue;
}

/** A trimmed string setting from the user's own settings; '' when unset. `config` is the `astraforge` section. */
export function userSetting(config: Pick<vscode.WorkspaceConfiguration, 'inspect'>, key: UserOnlySetting): string {
  const value = userLevelValue(config.inspect<string>(key));
  return typeof value === 'string' ? value.trim() : '';
}
