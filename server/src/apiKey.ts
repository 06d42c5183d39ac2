// The server's API key: ASTRAFORGE_API_KEY, or one generated once and kept
// in the data folder with mode 0600.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ApiKeySource {
  key: string;
  /** Where the key was read from: 'env' or the file's path. */
  from: string;
}

/** `fromEnv`: ASTRAFORGE_API_KEY (config.apiKey), which wins over the file. */
export function loadApiKey(dataDir: string, fromEnv: string | undefined): ApiKeySource {
  if (fromEnv) return { key: fromEnv, from: 'env' };
  const file = join(dataDir, 'api-key');
  if (existsSync(file)) {
    chmodSync(file, 0o600);
    return { key: readFileSync(file, 'utf8').trim(), from: file };
  }
  const key = `af_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return { key, from: file };
}
