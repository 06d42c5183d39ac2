// The run event vocabulary: every event a run's log can hold, one schema per
// type, each with seq (equal to the SSE id), type and ts. The server emits
// them, the client parses its stream with them, the webview renders them and
// the OpenAPI document lists them. A new event type is added here and
// nowhere else; code names a type through RunEventName, never a string of
// its own.
import { z } from 'zod';
import { BlockRule, NetworkPolicy } from './networkPolicy';
import { AgentName, RunStatus, RunTask, TokenUsage } from './runTask';

/** Every event type's name, written once. */
export const RunEventName = {
  runCreated: 'run.created',
  runStatus: 'run.status',
  sandboxReady: 'sandbox.ready',
  runFollowup: 'run.followup',
  runFinished: 'run.finished',
  environmentSetupStarted: 'environment.setup.started',
  environmentSetupOutput: 'environment.setup.output',
  environmentSetupFinished: 'environment.setup.finished',
  environmentReady: 'environment.ready',
  commandStarted: 'command.started',
  commandOutput: 'command.output',
  commandFinished: 'command.finished',
  agentPrompt: 'agent.prompt',
  agentThread: 'agent.thread',
  agentTurn: 'agent.turn',
  agentToken: 'agent.token',
  agentMessage: 'agent.message',
  agentReasoning: 'agent.reasoning',
  agentError: 'agent.error',
  agentWarning: 'agent.warning',
  agentLog: 'agent.log',
  agentItem: 'agent.item',
  toolStarted: 'tool.started',
  toolOutput: 'tool.output',
  toolFinished: 'tool.finished',
  fileChanged: 'file.changed',
  todoUpdated: 'todo.updated',
  modelCall: 'model.call',
  networkAllowed: 'network.allowed',
  networkBlocked: 'network.blocked',
  diffReady: 'diff.ready',
  diffFailed: 'diff.failed',
  outputCollapsed: 'output.collapsed',
} as const;

export const RunEventType = z.enum(RunEventName);
export type RunEventType = z.infer<typeof RunEventType>;

const isoTime = z.string().describe('RFC 3339 timestamp');

/** One event type's schema: the common fields, then its own; its OpenAPI component is named for it. */
function runEvent<K extends keyof typeof RunEventName, S extends z.ZodRawShape>(key: K, fields: S, description: string) {
  return z
    .object({
      seq: z.number().int().min(1).describe('Increasing within the run; the SSE id'),
      type: z.literal(RunEventName[key]),
      ts: isoTime,
      ...fields,
    })
    .meta({ id: `${key.charAt(0).toUpperCase()}${key.slice(1)}Event`, description });
}

// --- the run's own state ---

export const RunCreatedEvent = runEvent('runCreated', { agent: AgentName, task: RunTask }, 'The run was accepted and queued.');
export const RunStatusEvent = runEvent('runStatus', { status: RunStatus }, "The run's status changed (provisioning, running).");
export const SandboxReadyEvent = runEvent('sandboxReady', { session_id: z.string() }, "The run's sandbox session is up.");
export const RunFollowupEvent = runEvent(
  'runFollowup',
  {
    message: z.string().optional(),
    command: z.string().optional(),
    network: NetworkPolicy.optional().describe("The sandbox's network from this turn on, where the follow-up changed it"),
  },
  'A follow-up started another turn in the same sandbox.',
);
export const RunFinishedEvent = runEvent(
  'runFinished',
  { status: RunStatus, error: z.string().optional() },
  'The turn ended with this status. A follow-up may continue the run after it.',
);

const OutputStream = z.enum(['stdout', 'stderr']);

// --- the project's environment (.astraforge/environment.json, devcontainer.json) ---

const EnvironmentKey = z.string().describe("The environment's key: a hash of its setup command, image and key files' contents");
export const EnvironmentSetupStartedEvent = runEvent(
  'environmentSetupStarted',
  { key: EnvironmentKey, source: z.string().describe('The file that defined it'), command: z.string() },
  'No environment is kept for this key: its setup command started in a sandbox of its own.',
);
export const EnvironmentSetupOutputEvent = runEvent(
  'environmentSetupOutput',
  { stream: OutputStream, text: z.string() },
  'Output of the setup command, as it came.',
);
export const EnvironmentSetupFinishedEvent = runEvent(
  'environmentSetupFinished',
  { key: EnvironmentKey, exit_code: z.number().int(), duration_ms: z.number(), timed_out: z.boolean() },
  'The setup command ended; on a non-zero exit the run fails.',
);
export const EnvironmentReadyEvent = runEvent(
  'environmentReady',
  {
    key: EnvironmentKey,
    cached: z.boolean().describe('Whether a kept environment was reused (its setup did not run again)'),
    source: z.string(),
    bytes: z.number().int().describe('What the environment adds to the workspace, bytes'),
  },
  "The run's workspace will hold the environment's files.",
);

// --- commands the run executed (the command agent) ---

export const CommandStartedEvent = runEvent('commandStarted', { command: z.string() }, 'A shell command started in the sandbox.');
export const CommandOutputEvent = runEvent(
  'commandOutput',
  { stream: OutputStream, text: z.string() },
  'Output of the running command, as it came (lines may be split across events).',
);
export const CommandFinishedEvent = runEvent(
  'commandFinished',
  {
    command: z.string(),
    exit_code: z.number().int(),
    duration_ms: z.number(),
    truncated: z.boolean(),
    timed_out: z.boolean(),
    cancelled: z.boolean(),
  },
  'The command ended.',
);

// --- the agent's turn ---

export const AgentPromptEvent = runEvent('agentPrompt', { text: z.string() }, 'The prompt the server built for the agent.');
export const AgentThreadEvent = runEvent('agentThread', { thread_id: z.string() }, "The agent's conversation thread (Codex).");
export const AgentTurnEvent = runEvent(
  'agentTurn',
  {
    phase: z.enum(['started', 'completed']),
    usage: z.record(z.string(), z.number()).optional().describe('Token counts as the agent reported them'),
  },
  "A turn of the agent's own began or ended.",
);
export const AgentTokenEvent = runEvent('agentToken', { text: z.string() }, "A piece of the agent's message as it streams.");
export const AgentMessageEvent = runEvent(
  'agentMessage',
  { item_id: z.string().optional(), text: z.string() },
  "The agent's whole message (replaces the streamed tokens before it).",
);
export const AgentReasoningEvent = runEvent(
  'agentReasoning',
  { item_id: z.string().optional(), text: z.string() },
  "The agent's reasoning summary.",
);
export const AgentErrorEvent = runEvent(
  'agentError',
  { message: z.string(), fatal: z.boolean().describe('Whether the turn failed with it') },
  'The agent reported an error.',
);
export const AgentWarningEvent = runEvent(
  'agentWarning',
  { item_id: z.string().optional(), message: z.string() },
  'The agent warned about something that does not stop its turn (Codex: a model it has no metadata for, a configuration it ignored).',
);
export const AgentLogEvent = runEvent('agentLog', { text: z.string() }, 'A line of agent output that is not an event.');
export const AgentItemEvent = runEvent(
  'agentItem',
  { item: z.record(z.string(), z.unknown()).optional(), event: z.record(z.string(), z.unknown()).optional() },
  'An agent event without a run event of its own, kept as the agent gave it.',
);

// --- the agent's tools ---

export const ToolStartedEvent = runEvent(
  'toolStarted',
  { call_id: z.string(), tool: z.string(), command: z.string().optional(), args: z.unknown().optional() },
  'The agent called a tool (a shell command, a file edit, a search).',
);
export const ToolOutputEvent = runEvent('toolOutput', { text: z.string() }, 'Output of the running tool, as it came.');
export const ToolFinishedEvent = runEvent(
  'toolFinished',
  {
    call_id: z.string(),
    tool: z.string(),
    command: z.string().optional(),
    output: z.string(),
    exit_code: z.number().int().optional(),
    status: z.string().optional().describe('completed, failed, or what the agent said'),
  },
  'The tool call ended, with its (clipped) output.',
);
export const FileChangedEvent = runEvent(
  'fileChanged',
  {
    item_id: z.string().optional(),
    changes: z.array(z.object({ path: z.string(), kind: z.string().describe('add, delete or update') })),
    status: z.string().optional(),
  },
  'The agent changed files in the sandbox.',
);
export const TodoUpdatedEvent = runEvent(
  'todoUpdated',
  {
    items: z.array(
      z.object({ text: z.string(), done: z.boolean(), status: z.string().optional().describe('pending, in_progress, completed') }),
    ),
  },
  "The agent's plan, whole.",
);

// --- the model gateway, the diff, the log ---

export const ModelCallEvent = runEvent(
  'modelCall',
  {
    path: z.string(),
    status: z.number().int().describe("The upstream's HTTP status"),
    duration_ms: z.number(),
    usage: TokenUsage.optional(),
    error: z.string().optional(),
    total_usage: TokenUsage.optional().describe("The run's usage so far"),
  },
  'The agent called the model through the gateway.',
);
// --- the egress proxy ---

export const NetworkAllowedEvent = runEvent(
  'networkAllowed',
  {
    host: z.string(),
    port: z.number().int(),
    rule: z.string().describe('The allow entry that matched ("open" in open mode)'),
    address: z.string().describe('The address the proxy checked and connected to'),
  },
  "The sandbox's first connection to this host:port went out through the egress proxy.",
);
export const NetworkBlockedEvent = runEvent(
  'networkBlocked',
  { host: z.string(), port: z.number().int(), rule: BlockRule, reason: z.string() },
  'The egress proxy refused a connection from the sandbox.',
);

export const DiffReadyEvent = runEvent(
  'diffReady',
  {
    files: z.number().int().describe('How many files changed'),
    paths: z.array(z.string()).describe('The first 50 of them'),
    nested_repos: z.array(z.string()).optional().describe('Git repositories inside the workspace, left out of the diff'),
  },
  "The run's diff was computed and saved (GET /api/runs/{id}/diff).",
);
export const DiffFailedEvent = runEvent('diffFailed', { error: z.string() }, 'The diff could not be computed; nothing was saved.');
export const OutputCollapsedEvent = runEvent(
  'outputCollapsed',
  { from_seq: z.number().int(), to_seq: z.number().int(), events: z.number().int(), bytes: z.number().int() },
  'Output events from from_seq to to_seq were dropped to keep the log within its size; this marker takes their place.',
);

export const RunEvent = z
  .discriminatedUnion('type', [
    RunCreatedEvent,
    RunStatusEvent,
    SandboxReadyEvent,
    RunFollowupEvent,
    RunFinishedEvent,
    EnvironmentSetupStartedEvent,
    EnvironmentSetupOutputEvent,
    EnvironmentSetupFinishedEvent,
    EnvironmentReadyEvent,
    CommandStartedEvent,
    CommandOutputEvent,
    CommandFinishedEvent,
    AgentPromptEvent,
    AgentThreadEvent,
    AgentTurnEvent,
    AgentTokenEvent,
    AgentMessageEvent,
    AgentReasoningEvent,
    AgentErrorEvent,
    AgentWarningEvent,
    AgentLogEvent,
    AgentItemEvent,
    ToolStartedEvent,
    ToolOutputEvent,
    ToolFinishedEvent,
    FileChangedEvent,
    TodoUpdatedEvent,
    ModelCallEvent,
    NetworkAllowedEvent,
    NetworkBlockedEvent,
    DiffReadyEvent,
    DiffFailedEvent,
    OutputCollapsedEvent,
  ])
  .meta({ id: 'RunEvent', description: 'One event of a run, by type.' });
export type RunEvent = z.infer<typeof RunEvent>;

/** The event of one type. */
export type RunEventOf<T extends RunEventType> = Extract<RunEvent, { type: T }>;
/**
 * What an emitter gives for an event of one type: its own fields, without the
 * numbering and time the log adds. For a union of types, the fields of one of them.
 */
export type RunEventData<T extends RunEventType> = T extends RunEventType ? Omit<RunEventOf<T>, 'seq' | 'type' | 'ts'> : never;

/**
 * Events written to disk before emit returns: the run's state changes and
 * its terminal event, which a restart must find. The rest may be lost with
 * the last moments before a crash.
 */
const DURABLE: ReadonlySet<RunEventType> = new Set([
  RunEventName.runCreated,
  RunEventName.runStatus,
  RunEventName.sandboxReady,
  RunEventName.runFollowup,
  RunEventName.runFinished,
  RunEventName.environmentSetupFinished,
  RunEventName.environmentReady,
  RunEventName.diffReady,
  RunEventName.diffFailed,
]);

export function isDurableRunEvent(type: RunEventType): boolean {
  return DURABLE.has(type);
}
