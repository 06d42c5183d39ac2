// /api/sandbox/sessions/{id}/files/export/, artifacts/ and snapshots/: files
// copied out of a toolkit session's sandbox and kept by the server, and
// archives of its workspace to start sessions from.
import { createReadStream } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  Artifact,
  ArtifactExportRequest,
  ArtifactList,
  ArtifactParams,
  Snapshot,
  SnapshotCreateRequest,
  SnapshotList,
} from '@astraforge/contract/toolkitArtifacts';
import { ToolkitError, ToolkitSessionParams } from '@astraforge/contract/toolkitApi';
import { AppError } from '../../errors';
import type { ArtifactRecord } from '../../toolkit/artifactStore';
import type { ToolkitSandbox } from '../../toolkit/toolkitSandbox';
import type { ToolkitSessions } from '../../toolkit/toolkitSessions';
import type { SnapshotRecord } from '../../toolkit/workspaceSnapshots';
import { contentDisposition } from '../contentDisposition';

const base = '/api/sandbox/sessions';

/** Absolute, on the address the client used, so it can be fetched as is (with the API key). */
function downloadUrl(req: FastifyRequest, a: ArtifactRecord): string {
  return `${req.protocol}://${req.host}${base}/${encodeURIComponent(a.session_id)}/artifacts/${a.id}/download/`;
}

function artifactView(req: FastifyRequest, a: ArtifactRecord): Artifact {
  const { session_id: _session, ...fields } = a;
  return { ...fields, size: a.size_bytes, download_url: downloadUrl(req, a) };
}

export function toolkitArtifactRoutes(sessions: ToolkitSessions, sandbox: ToolkitSandbox) {
  const snapshotView = (s: SnapshotRecord): Snapshot => {
    const { session_id: _session, ...fields } = s;
    return { ...fields, s3_key: '', archive_path: sessions.snapshots.archiveName(s.id) };
  };
  return async (app: FastifyInstance): Promise<void> => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['toolkit'];
    const errors = { 400: ToolkitError, 401: ToolkitError, 404: ToolkitError, 410: ToolkitError, 413: ToolkitError };
    const params = ToolkitSessionParams;

    r.post(
      `${base}/:id/files/export/`,
      {
        schema: {
          summary: 'Copy a file out of the sandbox into an artifact the server keeps',
          tags,
          params,
          body: ArtifactExportRequest,
          response: { 201: Artifact, ...errors },
        },
      },
      async (req, reply) => {
        const a = await sandbox.exportFile(req.params.id, req.body.path, {
          filename: req.body.filename,
          contentType: req.body.content_type,
        });
        return reply.code(201).send(artifactView(req, a));
      },
    );
    r.get(
      `${base}/:id/artifacts/`,
      { schema: { summary: "A session's artifacts, newest first", tags, params, response: { 200: ArtifactList, ...errors } } },
      async (req) => {
        sessions.assertExists(req.params.id);
        return { session_id: req.params.id, artifacts: sessions.artifacts.listFor(req.params.id).map((a) => artifactView(req, a)) };
      },
    );
    r.get(
      `${base}/:id/artifacts/:artifactId/download/`,
      // No response schema: the 200 body is the artifact's bytes, with its content type.
      { schema: { summary: "An artifact's bytes (kept after the sandbox is gone)", tags, params: ArtifactParams } },
      async (req, reply) => {
        const a = sessions.artifacts.get(req.params.id, req.params.artifactId);
        if (!a) throw new AppError('SESSION_NOT_FOUND', `no artifact "${req.params.artifactId}" in session "${req.params.id}"`);
        return reply
          .type(a.content_type)
          .header('content-length', a.size_bytes)
          .header('content-disposition', contentDisposition(a.filename))
          .header('x-content-type-options', 'nosniff')
          .send(createReadStream(sessions.artifacts.contentFile(a.id)));
      },
    );
    for (const path of [`${base}/:id/snapshots/`, `${base}/:id/snapshot/`]) {
      r.post(
        path,
        {
          schema: {
            summary: "Archive the session's workspace (all of it, or include_paths)",
            tags,
            params,
            body: SnapshotCreateRequest.optional().default({}),
            response: { 201: Snapshot, ...errors },
          },
        },
        async (req, reply) => reply.code(201).send(snapshotView(await sandbox.snapshot(req.params.id, req.body ?? {}))),
      );
    }
    r.get(
      `${base}/:id/snapshots/`,
      { schema: { summary: "A session's snapshots, newest first", tags, params, response: { 200: SnapshotList, ...errors } } },
      async (req) => {
        sessions.assertExists(req.params.id);
        return { session_id: req.params.id, snapshots: sessions.snapshots.listFor(req.params.id).map(snapshotView) };
      },
    );
  };
}
