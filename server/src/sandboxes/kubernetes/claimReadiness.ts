// Waiting for a claim to be Ready the way controllers do: list it (which
// gives a resourceVersion), watch from there, list again when the watch ends
// or answers 410 Gone, all within one deadline; the failure names the
// claim's conditions, so "Unschedulable" or "ImagePullBackOff" reach the user.
import { SandboxError } from '../sandboxError';
import type { ClaimClient, Condition, SandboxClaim, WatchEvent } from './claimClient';

export interface ReadyClaim {
  sandboxName: string;
  podIP: string;
}

/**
 * Reasons agent-sandbox's claim controller sets that waiting will not change within a session's
 * start: the claim names a pool or template that does not exist (it retries only every minute),
 * its metadata or env is refused, or it expired. Anything else (ReconcilerError, SandboxNotReady,
 * the pod's own Ready=False) may clear, so the wait goes on until its deadline.
 */
const TERMINAL_REASONS = new Set([
  'WarmPoolNotFound',
  'TemplateNotFound',
  'InvalidMetadata',
  'EnvVarsInjectionRejected',
  'ClaimExpired',
  'SandboxExpired',
]);

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
  let resourceVersion: string | undefined;
  const fail = (why: string) =>
    new SandboxError(
      'START_FAILED',
      `SandboxClaim "${name}" in namespace "${client.namespace}" ${why}: ${describeConditions(last?.status?.conditions)}`,
    );
  const check = (claim: SandboxClaim): ReadyClaim | undefined => {
    last = claim;
    const ready = readyOf(claim);
    if (ready) return ready;
    if (terminal(claim)) throw fail('cannot become Ready');
    return undefined;
  };
  while (Date.now() < deadline) {
    if (resourceVersion === undefined) {
      const list = await client.list({ fieldSelector: selector });
      if (!list.items[0]) throw fail('was deleted before it became Ready');
      const ready = check(list.items[0]);
      if (ready) return ready;
      resourceVersion = list.resourceVersion;
    }
    const outcome = await watchOnce(client, selector, resourceVersion, deadline, (e) => {
      if (e.type === 'BOOKMARK') {
        resourceVersion = e.resourceVersion;
        return undefined;
      }
      if (e.type === 'GONE') return 'gone';
      resourceVersion = e.claim.metadata.resourceVersion ?? resourceVersion;
      if (e.type === 'DELETED') {
        last = e.claim;
        throw fail('was deleted before it became Ready');
      }
      return check(e.claim);
    });
    if (outcome === 'gone')
      resourceVersion = undefined; // 410: the history is compacted, list again
    else if (outcome !== 'ended') return outcome;
    // A watch the server ended resumes from the last resourceVersion seen (bookmarks keep it fresh).
    else await new Promise((r) => setTimeout(r, 50));
  }
  throw fail(`did not become Ready within ${Math.round(timeoutMs / 1000)} s`);
}

type Outcome = ReadyClaim | 'gone' | 'ended';

/** One watch: until `onEvent` decides (a result, 'gone', or a throw), the server ends it, or the deadline. */
function watchOnce(
  client: ClaimClient,
  selector: string,
  resourceVersion: string,
  deadline: number,
  onEvent: (e: WatchEvent) => ReadyClaim | 'gone' | undefined,
): Promise<Outcome> {
  return new Promise<Outcome>((resolve, reject) => {
    let stop: (() => void) | undefined;
    let settled = false;
    const settle = (v: Outcome | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stop?.();
      if (v instanceof Error) reject(v);
      else resolve(v);
    };
    const timer = setTimeout(() => settle('ended'), Math.max(1, deadline - Date.now()));
    client
      .watch(
        selector,
        resourceVersion,
        (e) => {
          try {
            const r = onEvent(e);
            if (r) settle(r);
          } catch (err) {
            settle(err as Error);
          }
        },
        () => settle('ended'),
      )
      .then(
        (s) => {
          stop = s;
          if (settled) s();
        },
        (e: Error) => settle(e),
      );
  });
}
