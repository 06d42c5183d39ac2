import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { HealthResult } from '@astraforge/contract/sandboxApi';

export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app
    .withTypeProvider<ZodTypeProvider>()
    .get('/healthz', { schema: { summary: 'Liveness (no auth)', tags: ['sandbox'], response: { 200: HealthResult } } }, async () => ({
      ok: true as const,
    }));
}
