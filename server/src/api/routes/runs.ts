// /api/snapshots and /api/runs: the run API the extension drives.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { commonErrorResponses, ErrorEnvelope } from '@astraforge/contract/errors';
import {
  FileContents,
  FileContentsRequest,
  CreateRunRequest,
  FollowUpRequest,
  Run,
  RunDiff,
  RunEventName,
  RunEventsQuery,
  RunIdParams,
  RunList,
  RunListQuery,
  RunEvent,
} from '@astraforge/contract/runApi';
import type { RunService } from '../../runs/runService';
import type { SnapshotStore } from '../../snapshots/snapshotStore';
import { openSse } from '../sse';
import { snapshotRoutes } from './snapshots';

export function runRoutes(runs: RunService, snapshots: SnapshotStore, heartbeatMs: number) {
  return async (app: FastifyInstance): Promise<void> => {
    // The snapshots a run starts from: their own routes, registered with the runs'.
    await app.register(snapshotRoutes(snapshots));
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['runs'];
    const notFound = { 404: ErrorEnvelope };

    r.post(
      '/api/runs',
      { schema: { summary: 'Start a run', tags, body: CreateRunRequest, response: { 201: Run, ...commonErrorResponses } } },
      async (req, reply) => reply.code(201).send(runs.create(req.body)),
    );

    r.get(
      '/api/runs',
      {
        schema: {
          summary: "This user's runs (or one workspace folder's, with ?workspace=<its URI>), newest first, paged",
          tags,
          querystring: RunListQuery,
          response: { 200: RunList },
        },
      },
      async (req) => {
        const page = runs.list({ limit: req.query.limit, cursor: req.query.cursor, workspaceUri: req.query.workspace });
        return { runs: page.runs, next_cursor: page.nextCursor };
      },
    );

    r.get(
      '/api/runs/changes',
      {
        schema: {
          summary: 'Runs as they are created and as their status changes (SSE)',
          description:
            "First `event: ready` (data `{}`) once the stream follows; then each `event: run` is a run's record, sent when the run is created and each time its status changes, for every run of this server (alerts' runs too; filter by `workspace` on the client). Nothing is replayed: to miss nothing, open this stream, list the runs (GET /api/runs) after `ready`, then apply the stream's runs. Comments keep the connection alive.",
          tags,
          response: { 200: { description: 'Server-sent events, each one Run', content: { 'text/event-stream': { schema: Run } } } },
        },
      },
      async (_req, reply) => {
        const sse = openSse(reply, heartbeatMs);
        const unsubscribe = runs.watchRuns((run) => sse.send('run', run));
        sse.closed.addEventListener('abort', unsubscribe);
        sse.send('ready', {});
      },
    );

    r.get(
      '/api/runs/:id',
      { schema: { summary: 'One run', tags, params: RunIdParams, response: { 200: Run, ...notFound } } },
      async (req) => runs.get(req.params.id),
    );

    r.get(
      '/api/runs/:id/events',
      {
        schema: {
          summary: "The run's events (SSE), resumable with Last-Event-ID",
          description:
            'Each event: `id: <seq>` and JSON data with seq, type, ts. Reconnect with Last-Event-ID (or ?after=) to get exactly the events after it. A finished run replays whole, then the stream ends.',
          tags,
          params: RunIdParams,
          querystring: RunEventsQuery,
          response: {
            200: { description: 'Server-sent events, each one RunEvent', content: { 'text/event-stream': { schema: RunEvent } } },
            ...notFound,
          },
        },
      },
      async (req, reply) => {
        runs.get(req.params.id); // 404 as JSON before the stream opens
        const header = req.headers['last-event-id'];
        const fromHeader = typeof header === 'string' && /^\d+$/.test(header.trim()) ? Number(header.trim()) : undefined;
        const after = fromHeader ?? req.query.after ?? 0;
        const sse = openSse(reply, heartbeatMs);
        let finished = false;
        const send = (e: RunEvent) => {
          sse.send(undefined, e, e.seq);
          // A follow-up continues after the run-finished event, so only the latest event says whether the run is over.
          finished = e.type === RunEventName.runFinished;
        };
        // follow() reads the log and subscribes in one synchronous step, and the
        // replay below is sent before anything else can run: no gap, no repeat.
        const follow = runs.follow(req.params.id, after, (e) => {
          send(e);
          if (finished) close();
        });
        const close = () => {
          follow.unsubscribe();
          sse.end();
        };
        sse.closed.addEventListener('abort', () => follow.unsubscribe());
        for (const e of follow.past) send(e);
        if (!follow.live || finished) close();
      },
    );

    r.get(
      '/api/runs/:id/diff',
      { schema: { summary: "The run's changes against its snapshot", tags, params: RunIdParams, response: { 200: RunDiff, ...notFound } } },
      async (req) => runs.diff(req.params.id),
    );

    r.post(
      '/api/runs/:id/base-files',
      {
        schema: {
          summary: "Files as they were in the run's snapshot (the base for merging local edits)",
          tags,
          params: RunIdParams,
          body: FileContentsRequest,
          response: { 200: FileContents, ...notFound },
        },
      },
      async (req) => runs.baseFiles(req.params.id, req.body.paths),
    );

    r.post(
      '/api/runs/:id/proposed-files',
      {
        schema: {
          summary: "Files as the agent left them in the run's sandbox (for binary files), while it lives",
          tags,
          params: RunIdParams,
          body: FileContentsRequest,
          response: { 200: FileContents, ...notFound, 410: ErrorEnvelope },
        },
      },
      async (req) => runs.proposedFiles(req.params.id, req.body.paths),
    );

    r.post(
      '/api/runs/:id/messages',
      {
        schema: {
          summary: 'A follow-up in the same sandbox',
          tags,
          params: RunIdParams,
          body: FollowUpRequest,
          response: { 202: Run, ...notFound, ...commonErrorResponses },
        },
      },
      async (req, reply) => reply.code(202).send(runs.followUp(req.params.id, req.body)),
    );

    r.post(
      '/api/runs/:id/cancel',
      { schema: { summary: 'Cancel a run; the diff so far is kept', tags, params: RunIdParams, response: { 202: Run, ...notFound } } },
      async (req, reply) => reply.code(202).send(runs.cancel(req.params.id)),
    );
  };
}
