// What a run is: the agent that does it, the task it is given, the states it
// passes through and the tokens it spends. Both the run API and the run
// events carry these, so they sit below both.
import { z } from 'zod';

export const AgentName = z.enum(['command', 'codex', 'deepagent']);
export type AgentName = z.infer<typeof AgentName>;

export const RunStatus = z.enum(['queued', 'provisioning', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted']);
export type RunStatus = z.infer<typeof RunStatus>;
export const TERMINAL_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled', 'interrupted'];

export const ErrorContext = z
  .object({
    file: z.string().max(4096).optional(),
    range: z.object({ start_line: z.number().int().min(0), end_line: z.number().int().min(0) }).optional(),
    diagnostics: z.array(z.string().max(20_000)).max(100).optional(),
    terminal_output: z.string().max(200_000).optional(),
  })
  .strict();

export const RunTask = z
  .object({
    kind: z.enum(['spec', 'error']),
    prompt: z.string().max(200_000),
    /** For the command agent: the shell command to run in the workspace copy. */
    command: z.string().min(1).max(100_000).optional(),
    context: ErrorContext.optional(),
  })
  .strict();
export type RunTask = z.infer<typeof RunTask>;

export const TokenUsage = z.object({ input_tokens: z.number().int(), output_tokens: z.number().int(), total_tokens: z.number().int() });
export type TokenUsage = z.infer<typeof TokenUsage>;
