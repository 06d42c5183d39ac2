// `astraforge-server --help`, printed from the settings table, with each
// default read from ServerConfig itself.
import { ServerConfig } from '../config';
import { ANSWER_FLAGS, SERVER_SETTINGS, type ServerSetting } from './serverSettings';

export function helpText(): string {
  const defaults = ServerConfig.parse({ dataDir: '.' }) as unknown as Record<string, unknown>;
  const flagged = SERVER_SETTINGS.filter((s) => s.flag);
  const envOnly = SERVER_SETTINGS.filter((s) => !s.flag);
  const lines = [
    'Usage: astraforge-server [flags]',
    '',
    "AstraForge's sandbox server: sessions, runs and the model gateway over HTTP. It prints one JSON",
    'line on stdout once it listens ({"msg":"astraforge server listening","url":...}) and stops',
    'cleanly on SIGTERM or SIGINT, letting the requests under way finish first.',
    '',
    'Flags (each also read from its environment variable; a flag wins over its variable,',
    'a variable over config.json in the data folder):',
    ...flagged.map((s) => entry(`--${s.flag} ${s.value}`, s, defaults)),
    ...Object.entries(ANSWER_FLAGS).map(([flag, what]) => `  ${`-${flag[0]}, --${flag}`.padEnd(28)}${what}`),
    '',
    'Environment variables without a flag (each wins over config.json, unless it says otherwise):',
    ...envOnly.map((s) => entry(s.env ?? '', s, defaults)),
    '',
    'Every other setting (limits, the warm pool, snapshots, alerts, Docker hardening) is read from',
    '<data-dir>/config.json; see the README.',
    '',
    'Exit codes: 0 stopped cleanly, 1 could not start, 2 a flag or setting it cannot take,',
    '75 the data folder is in use by another server.',
    '',
  ];
  return lines.join('\n');
}

function entry(head: string, setting: ServerSetting, defaults: Record<string, unknown>): string {
  const variable = setting.flag && setting.env ? ` [${setting.env}]` : '';
  const choices = setting.parse.kind === 'choice' ? `; one of ${setting.parse.choices.join('|')}` : '';
  return [`  ${head.padEnd(28)}${setting.what}`, `  ${''.padEnd(28)}default: ${defaultOf(setting, defaults)}${choices}${variable}`].join(
    '\n',
  );
}

function defaultOf(setting: ServerSetting, defaults: Record<string, unknown>): string {
  if (setting.shownDefault) return setting.shownDefault;
  let value: unknown = defaults;
  for (const key of setting.path ?? []) value = (value as Record<string, unknown> | undefined)?.[key];
  return value === undefined ? 'none' : String(value);
}
