// Session records in the data folder, one JSON file each, so that a restarted
// server knows what it ran before and can report and clean it up.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { NetworkPolicy } from '@astraforge/contract/networkPolicy';
import { SessionStatus } from '@astraforge/contract/sandboxApi';

export const SessionRecord = z.object({
  id: z.string(),
  image: z.string(),
  status: SessionStatus,
  workspace_id: z.string().optional(),
  workspace_dir: z.string(),
  host_uid: z.number().int(),
  ttl_seconds: z.number().int(),
  created_at: z.string(),
  expires_at: z.string(),
  cwd: z.string(),
  ended_reason: z.string().optional(),
  /** A hard end, however active the session is. */
  max_lifetime_seconds: z.number().int().optional(),
  /** What a client attached to the session (the toolkit API's metadata and settings). */
  labels: z.record(z.string(), z.unknown()).optional(),
  /** The egress policy the session was given (and changed to), so a restarted server still reports it; unset for none. */
  network: NetworkPolicy.optional(),
});
export type SessionRecord = z.infer<typeof SessionRecord>;

export class SessionRecords {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  save(rec: SessionRecord): void {
    const file = join(this.dir, `${rec.id}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(rec), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  remove(id: string): void {
    rmSync(join(this.dir, `${id}.json`), { force: true });
  }

  loadAll(): SessionRecord[] {
    const out: SessionRecord[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        out.push(SessionRecord.parse(JSON.parse(readFileSync(join(this.dir, name), 'utf8'))));
      } catch {
        rmSync(join(this.dir, name), { force: true }); // a torn write from a crash
      }
    }
    return out;
  }
}
