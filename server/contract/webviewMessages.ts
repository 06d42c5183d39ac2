// The messages between the extension and the sidebar webview, as zod
// schemas both sides validate with (the webview bundle imports this file,
// so it lives in the contract with the run data it carries). Runs stream to
// the webview as append-only event batches, never as the whole history.
import { z } from 'zod';
import { AgentName, Run, RunEvent } from './runApi';

export const ConnectionState = z.object({
  status: z.enum(['starting', 'connected', 'error']),
  /** What went wrong and what fixes it, when status is error. */
  message: z.string().optional(),
  serverUrl: z.string().optional(),
});
export type ConnectionState = z.infer<typeof ConnectionState>;

// --- extension -> webview ---

export const HostMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('init'),
    agents: z.array(AgentName),
    defaultAgent: AgentName,
    connection: ConnectionState,
  }),
  z.object({ type: z.literal('connection'), connection: ConnectionState }),
  /** The run list, newest first (small: summaries only). */
  z.object({ type: z.literal('runs'), runs: z.array(Run) }),
  /** The webview now shows this run; events follow from `fromSeq` on. */
  z.object({ type: z.literal('runSelected'), run: Run }),
  /** New events of the shown run, in order, each exactly once. */
  z.object({ type: z.literal('runEvents'), runId: z.string(), events: z.array(RunEvent) }),
  /** The shown run's status, usage or error changed. */
  z.object({ type: z.literal('runUpdated'), run: Run }),
  /** The extension carried out a request of the view (the input can clear). */
  z.object({ type: z.literal('ack'), of: z.enum(['startRun', 'followUp', 'cancelRun', 'reviewChanges', 'allowHost']) }),
  /** A failure to show the user next to the input. */
  z.object({ type: z.literal('error'), message: z.string() }),
]);
export type HostMessage = z.infer<typeof HostMessage>;

// --- webview -> extension ---

export const ViewMessage = z.discriminatedUnion('type', [
  /** The webview loaded (or reloaded) and can take messages; `runId` is the run it showed before. */
  z.object({ type: z.literal('ready'), runId: z.string().optional() }),
  z.object({
    type: z.literal('startRun'),
    agent: AgentName,
    kind: z.enum(['spec', 'error']),
    prompt: z.string().min(1).max(200_000),
    /** For the command agent. */
    command: z.string().min(1).max(100_000).optional(),
  }),
  z.object({ type: z.literal('selectRun'), runId: z.string() }),
  z.object({ type: z.literal('followUp'), runId: z.string(), message: z.string().min(1).max(200_000) }),
  z.object({ type: z.literal('cancelRun'), runId: z.string() }),
  z.object({ type: z.literal('reviewChanges'), runId: z.string() }),
  /** Allow a host the egress proxy refused in this run: for the run's workspace (its settings) or once; the run goes on. */
  z.object({
    type: z.literal('allowHost'),
    runId: z.string(),
    host: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535),
    scope: z.enum(['workspace', 'once']),
  }),
  /** Open the Sentry or GlitchTip issue an alert's run came from (the extension takes the link from the run's record). */
  z.object({ type: z.literal('openRunSource'), runId: z.string() }),
  /** The view drew the run's events up to `lastSeq` (at most once per frame): what the user can see. */
  z.object({ type: z.literal('rendered'), runId: z.string(), lastSeq: z.number().int().min(0), rows: z.number().int().min(0) }),
]);
export type ViewMessage = z.infer<typeof ViewMessage>;
