// Waiting for a claim to be Ready the way controllers do: list it (which
// gives a resourceVersion), watch from there, list again when the watch ends
// or answers 410 Gone, all within one deadline; the failure names the
// claim's conditions, so "Unschedulable" or "ImagePullBackOff" reach the user.
import { SandboxError } from '../sandboxError';
import type { ClaimClient, Condition, SandboxClaim } from './claimClient';

export interface ReadyClaim {
  sandboxName: string;
  podIP: string;
}

/** Reasons that will not change by waiting: the claim names something that does not exist, or it expired. */
const TERMINAL_REASONS = new Set(['WarmPoolNotFound', 'TemplateNotFound', 'ClaimExpired', 'ReconcilerError']);

export function readyOf(claim: SandboxClaim): ReadyClaim | undefined {
  const ready = claim.status?.conditions?.find((c) => c.type === 'Ready');
  const ip = claim.status?.sandbox?.podIPs?.[0];
  if (ready?.status !== 'True' || !ip || !claim.status?.sandbox?.name) return undefined;
  return { sandboxName: claim.status.sandbox.name, podIP: ip };
}

export function describeConditions(conditions: Condition[] | undefined): string {
  if (!conditions?.length) return 'no conditions reported yet';
  return conditions.map((c) => `${c.type}=${c.status}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}`).join('; ');
}

function terminal(claim: SandboxClaim): Condition | undefined {
  return claim.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'False' && TERMINAL_REASONS.has(c.reason ?? ''));
}

export async function waitForReadyClaim(client: ClaimClient, name: string, timeoutMs: number): Promise<ReadyClaim> {
  const deadline = Date.now() + timeoutMs;
  const selector = `metadata.name=${name}`;
  let last: SandboxClaim | undefined;
  const fail = (why: string) =>
    new SandboxError(
      'START_FAILED',
      `SandboxClaim "${name}" in namespace "${client.namespace}" ${why}: ${describeConditions(last?.status?.conditions)}`,
    );
  while (Date.now() < deadline) {
    const list = await client.list({ fieldSelector: selector });
    const claim = list.items[0];
    if (!claim) throw fail('was deleted before it became Ready');
    last = claim;
    const ready = readyOf(claim);
    if (ready) return ready;
    if (terminal(claim)) throw fail('cannot become Ready');
    const outcome = await new Promise<ReadyClaim | 'relist' | Error>((resolve) => {
      let stop: (() => void) | undefined;
      let settled = false;
      const settle = (v: ReadyClaim | 'relist' | Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stop?.();
        resolve(v);
      };
      const timer = setTimeout(() => settle('relist'), Math.max(1, deadline - Date.now()));
      client
        .watch(
          selector,
          list.resourceVersion,
          (e) => {
            if (e.type === 'GONE') return settle('relist');
            if (e.type === 'BOOKMARK') return;
            last = e.claim;
            if (e.type === 'DELETED') return settle(fail('was deleted before it became Ready'));
            const r = readyOf(e.claim);
            if (r) return settle(r);
            if (terminal(e.claim)) settle(fail('cannot become Ready'));
          },
          () => settle('relist'),
        )
        .then(
          (s) => {
            stop = s;
            if (settled) s();
          },
          (e: Error) => settle(e),
        );
    });
    if (outcome instanceof Error) throw outcome;
    if (outcome !== 'relist') return outcome;
  }
  throw fail(`did not become Ready within ${Math.round(timeoutMs / 1000)} s`);
}
