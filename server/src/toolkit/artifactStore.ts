// Files exported out of a toolkit session's sandbox (files/export/): a copy
// kept by the server, <dir>/<id>.bin beside its record, so the download works
// after the sandbox is gone. They go with their session when it is forgotten.
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { JsonRecords } from './jsonRecords';

const ArtifactRecord = z.object({
  id: z.string(),
  session_id: z.string(),
  filename: z.string(),
  content_type: z.string(),
  size_bytes: z.number().int(),
  storage_path: z.string(),
  created_at: z.string(),
});
export type ArtifactRecord = z.infer<typeof ArtifactRecord>;

export class ArtifactStore {
  private readonly records: JsonRecords<typeof ArtifactRecord>;
  private readonly all = new Map<string, ArtifactRecord>();

  constructor(private readonly dir: string) {
    this.records = new JsonRecords(join(dir, 'records'), ArtifactRecord);
    for (const rec of this.records.loadAll()) this.all.set(rec.id, rec);
  }

  add(sessionId: string, storagePath: string, content: Buffer, o: { filename: string; contentType: string }): ArtifactRecord {
    const rec: ArtifactRecord = {
      id: randomUUID(),
      session_id: sessionId,
      filename: o.filename,
      content_type: o.contentType,
      size_bytes: content.length,
      storage_path: storagePath,
      created_at: new Date().toISOString(),
    };
    writeFileSync(this.contentFile(rec.id), content, { mode: 0o600 });
    this.records.save(rec);
    this.all.set(rec.id, rec);
    return rec;
  }

  /** The artifact, if it belongs to that session. */
  get(sessionId: string, id: string): ArtifactRecord | undefined {
    const rec = this.all.get(id);
    return rec?.session_id === sessionId ? rec : undefined;
  }

  contentFile(id: string): string {
    return join(this.dir, `${id}.bin`);
  }

  listFor(sessionId: string): ArtifactRecord[] {
    // Newest first; reversed first so that two made in the same millisecond keep their order.
    return [...this.all.values()]
      .filter((a) => a.session_id === sessionId)
      .reverse()
      .sort((a, b) => b.created_at.localeCompare(a.created_at));
  }

  removeFor(sessionId: string): void {
    for (const rec of this.listFor(sessionId)) {
      rmSync(this.contentFile(rec.id), { force: true });
      this.records.remove(rec.id);
      this.all.delete(rec.id);
    }
  }
}
