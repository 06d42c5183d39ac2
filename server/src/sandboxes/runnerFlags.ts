// af-runner's command line after its --shell, built in one place for every
// provider that starts it (bwrap, Docker): the per-process limits, and the
// relays it opens on the sandbox's loopback to the sockets bound in here.
import type { SandboxLimits } from './sandboxProvider';

/** Where a sandbox sees the model gateway's socket, which the runner relays to its loopback. */
export const GATEWAY_SOCKET_PATH = '/.astraforge/gateway.sock';
/** Where a sandbox with network sees its egress proxy's socket (relayed to its loopback). */
export const EGRESS_SOCKET_PATH = '/.astraforge/egress.sock';

/**
 * af-runner's limit and relay flags (after its --shell): the per-process limits, the gateway relay when
 * there is one, and the egress relay when the sandbox has network.
 */
export function runnerArgs(limits: SandboxLimits, relayPort?: number, egressPort?: number): string[] {
  // prettier-ignore
  return [
    '--nproc', String(limits.pids),
    '--as', String(limits.addressSpaceBytes),
    '--fsize', String(limits.fileSizeBytes),
    '--cpu', String(limits.cpuSecondsPerProcess),
    '--nofile', String(limits.openFiles),
    '--disk-quota', String(limits.diskQuotaBytes),
    ...(relayPort ? ['--relay-port', String(relayPort), '--relay-socket', GATEWAY_SOCKET_PATH] : []),
    ...(egressPort ? ['--egress-port', String(egressPort), '--egress-socket', EGRESS_SOCKET_PATH] : []),
  ];
}
