// Per-turn tokens for the model gateway. An agent holds one instead of the
// provider's key; it names the run for usage accounting and dies with the
// turn, and revoking it also aborts the model calls it has in flight.
import { randomBytes, timingSafeEqual } from 'node:crypto';

interface Grant {
  runId: string;
  token: Buffer;
  inFlight: Set<AbortController>;
}

export class RunTokens {
  private readonly grants = new Map<string, Grant>();

  issue(runId: string): string {
    this.revoke(runId);
    const token = `af-run-${randomBytes(24).toString('base64url')}`;
    this.grants.set(runId, { runId, token: Buffer.from(token), inFlight: new Set() });
    return token;
  }

  /** The run a token belongs to, or undefined when it is unknown or revoked. */
  runOf(token: string): string | undefined {
    const given = Buffer.from(token);
    for (const g of this.grants.values()) {
      if (g.token.length === given.length && timingSafeEqual(g.token, given)) return g.runId;
    }
    return undefined;
  }

  /** Registers a model call so that revoking the token aborts it. */
  track(runId: string, call: AbortController): () => void {
    const grant = this.grants.get(runId);
    if (!grant) {
      call.abort(new Error('the run token was revoked'));
      return () => undefined;
    }
    grant.inFlight.add(call);
    return () => grant.inFlight.delete(call);
  }

  revoke(runId: string): void {
    const grant = this.grants.get(runId);
    if (!grant) return;
    this.grants.delete(runId);
    for (const call of grant.inFlight) call.abort(new Error('the run token was revoked'));
  }
}
