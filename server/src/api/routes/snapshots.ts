// /api/snapshots: workspace snapshots in, whole (a tar) or incremental (a plan
// of hashes, then a tar of only the contents the server lacks).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { commonErrorResponses } from '@astraforge/contract/errors';
import { SnapshotResult } from '@astraforge/contract/runApi';
import { SnapshotPlan, SnapshotPlanRequest, SnapshotUploadQuery } from '@astraforge/contract/snapshotDelta';
import { AppError } from '../../errors';
import { SnapshotError, type SnapshotStore } from '../../snapshots/snapshotStore';

const TAR_TYPES = ['application/x-tar', 'application/tar'];
const GZIP_TYPES = ['application/gzip', 'application/x-gzip', 'application/x-tar+gzip'];
/** A whole plan lists every file of the workspace: 100,000 entries with long paths fit. */
const PLAN_BODY_LIMIT = 64 * 1024 * 1024;

function asAppError(e: unknown): unknown {
  return e instanceof SnapshotError ? new AppError(e.code, e.message, e.details) : e;
}

export function snapshotRoutes(snapshots: SnapshotStore) {
  return async (app: FastifyInstance): Promise<void> => {
    // Archives stream straight into the snapshot store; the store enforces the size limit.
    app.addContentTypeParser([...TAR_TYPES, ...GZIP_TYPES], (_req, payload, done) => done(null, payload));
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['runs'];

    r.post(
      '/api/snapshots/plan',
      {
        bodyLimit: PLAN_BODY_LIMIT,
        schema: {
          summary: "An incremental snapshot's manifest: answers which contents the upload must carry",
          description:
            'The whole manifest (files), or only what differs from a kept snapshot (base_snapshot_id, changed, removed; ' +
            '410 SESSION_EXPIRED when that snapshot is no longer kept). Checks every entry of the resulting manifest as an ' +
            'upload is checked (paths, kinds, symlinks, limits). The plan is good for one POST /api/snapshots?plan= ' +
            'before expires_at. Contents are reused only from snapshots this server keeps.',
          tags,
          body: SnapshotPlanRequest,
          response: { 200: SnapshotPlan, ...commonErrorResponses },
        },
      },
      async (req) => {
        try {
          return snapshots.plan(req.body);
        } catch (e) {
          throw asAppError(e);
        }
      },
    );

    r.post(
      '/api/snapshots',
      {
        schema: {
          summary: 'Upload a workspace snapshot (tar, or gzip-compressed tar), streamed',
          description:
            'Without ?plan=, the tar holds the whole workspace. With ?plan=<plan_id>, it holds only the missing ' +
            'contents of that plan, each a file named by its sha256; the snapshot is the same either way.',
          tags,
          querystring: SnapshotUploadQuery,
          consumes: [...TAR_TYPES, ...GZIP_TYPES],
          response: { 201: SnapshotResult, ...commonErrorResponses },
        },
      },
      async (req, reply) => {
        const type = String(req.headers['content-type'] ?? '')
          .split(';')[0]
          .trim()
          .toLowerCase();
        if (![...TAR_TYPES, ...GZIP_TYPES].includes(type)) {
          throw new AppError('INVALID_REQUEST', 'send the snapshot as application/x-tar or application/gzip');
        }
        const body = req.body as NodeJS.ReadableStream;
        const gzip = GZIP_TYPES.includes(type);
        try {
          const info = req.query.plan
            ? await snapshots.ingestPlanned(req.query.plan, body, { gzip })
            : await snapshots.ingest(body, { gzip });
          return reply.code(201).send(info);
        } catch (e) {
          throw asAppError(e);
        }
      },
    );
  };
}
