// Every request but the health check carries the server's key, as
// `Authorization: Bearer <key>` or (for the toolkit clients) `X-Api-Key`.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors';

const OPEN_PATHS = new Set(['/healthz']);
/** Webhooks from error trackers carry their own authentication (a signature, or a secret in the URL), checked by their routes. */
const OWN_AUTH_PREFIX = '/api/hooks/';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function presentedKey(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1];
  }
  const x = req.headers['x-api-key'];
  return typeof x === 'string' ? x.trim() : undefined;
}

export function registerAuth(app: FastifyInstance, apiKey: string): void {
  const expected = digest(apiKey);
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0];
    if (OPEN_PATHS.has(path) || path.startsWith(OWN_AUTH_PREFIX)) return;
    const key = presentedKey(req);
    if (!key || !timingSafeEqual(digest(key), expected)) {
      throw new AppError('UNAUTHORIZED', 'missing or wrong API key: send "Authorization: Bearer <key>"');
    }
  });
}
