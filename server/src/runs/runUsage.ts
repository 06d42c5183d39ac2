// A run's token usage: each model call the gateway reports adds its tokens to
// the run's total and becomes a model-call event carrying both.
import { RunEventName, type Run, type TokenUsage } from '@astraforge/contract/runApi';
import type { ModelCall } from '../gateway/modelGateway';
import type { RunEventLog } from './runEventLog';

export function recordModelCall(run: Run, events: RunEventLog, call: ModelCall): void {
  if (call.usage) run.usage = addUsage(run.usage, call.usage);
  events.emit(RunEventName.modelCall, {
    path: call.path,
    status: call.status,
    duration_ms: call.durationMs,
    usage: call.usage,
    error: call.error,
    total_usage: run.usage,
  });
}

function addUsage(total: TokenUsage | undefined, more: TokenUsage): TokenUsage {
  const t = total ?? { input_tokens: 0, output_tokens: 0, total_tokens: 0 };
  return {
    input_tokens: t.input_tokens + more.input_tokens,
    output_tokens: t.output_tokens + more.output_tokens,
    total_tokens: t.total_tokens + more.total_tokens,
  };
}
