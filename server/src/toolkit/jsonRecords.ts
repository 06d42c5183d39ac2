// One JSON file per record in a folder of its own, written atomically, read
// back through a schema at start: the toolkit's sessions, snapshots and
// artifacts survive a server restart this way.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';

export class JsonRecords<S extends z.ZodType<{ id: string }>> {
  constructor(
    private readonly dir: string,
    private readonly schema: S,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  save(rec: z.infer<S>): void {
    const file = join(this.dir, `${rec.id}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(rec), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  remove(id: string): void {
    rmSync(join(this.dir, `${id}.json`), { force: true });
  }

  loadAll(): z.infer<S>[] {
    const out: z.infer<S>[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        out.push(this.schema.parse(JSON.parse(readFileSync(join(this.dir, name), 'utf8'))));
      } catch {
        rmSync(join(this.dir, name), { force: true }); // a torn write from a crash
      }
    }
    return out;
  }
}
