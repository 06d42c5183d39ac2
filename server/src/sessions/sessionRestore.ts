// A session as a restarted server lists it again, from the record a previous
// process left: one that was running is reconciled as crashed (its processes
// died with that server), and it stays listed until its tombstone expires,
// with the network policy it had (its traffic figures died with its proxy).
import type { LiveSession } from './liveSession';
import { idleNetworkInfo } from './sessionEgress';
import type { SessionRecord } from './sessionRecords';

export interface RestoreContext {
  save: (rec: SessionRecord) => void;
  log: (obj: Record<string, unknown>, msg: string) => void;
}

export function restoreSession(rec: SessionRecord, ctx: RestoreContext): LiveSession {
  if (rec.status === 'running') {
    rec.status = 'crashed';
    rec.ended_reason = 'the server stopped while this session was running; its processes are gone';
    ctx.save(rec);
    ctx.log({ session_id: rec.id }, 'session reconciled as crashed after restart');
  }
  return {
    record: rec,
    expiresAt: Date.parse(rec.expires_at),
    lastActivity: Date.parse(rec.expires_at),
    running: 0,
    networkAtEnd: rec.network ? idleNetworkInfo(rec.network) : undefined,
  };
}
