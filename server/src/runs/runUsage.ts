// A run's usage: each model call the gateway reports adds its tokens to the
// run's total and becomes a model-call event carrying both; the egress proxy's
// decisions become network events and its byte counts the run's network usage.
import type { NetworkUsage } from '@astraforge/contract/networkPolicy';
import { RunEventName, type Run, type TokenUsage } from '@astraforge/contract/runApi';
import type { AllowedConnection, BlockedConnection } from '../egress/egressListener';
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

export function recordNetworkAllowed(events: RunEventLog, c: AllowedConnection): void {
  events.emit(RunEventName.networkAllowed, { host: c.host, port: c.port, rule: c.rule, address: c.address });
}

export function recordNetworkBlocked(events: RunEventLog, c: BlockedConnection): void {
  events.emit(RunEventName.networkBlocked, { host: c.host, port: c.port, rule: c.rule, reason: c.reason });
}

/** The proxy reports its totals for the run's sandbox (one per run): they replace the run's. */
export function recordNetworkUsage(run: Run, usage: NetworkUsage): void {
  run.network_usage = { ...usage };
}

function addUsage(total: TokenUsage | undefined, more: TokenUsage): TokenUsage {
  const t = total ?? { input_tokens: 0, output_tokens: 0, total_tokens: 0 };
  return {
    input_tokens: t.input_tokens + more.input_tokens,
    output_tokens: t.output_tokens + more.output_tokens,
    total_tokens: t.total_tokens + more.total_tokens,
  };
}
