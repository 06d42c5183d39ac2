// A pod's network in the controller double. As root: a network namespace of
// its own with a veth pair, the pod at 10.x.y.2 and the host side at
// 10.x.y.1, as a CNI gives a pod its own interface and IP: the pod's
// loopback is its own (its runner's relay on 127.0.0.1 clashes with no
// other pod), it reaches nothing but the host side of its link, and the
// server reaches it at its IP. Elsewhere (or when `ip netns` fails): the
// pod shares the host's network and gets its own 127.x address.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';

export interface PodNetwork {
  podIp: string;
  /** The command prefix that runs a process in the pod's network, as `uid`. */
  enter(uid: number): { command: string[]; spawnAsUid: boolean };
  destroy(): void;
}

let loopbackNext = 257;

export function loopbackNetwork(): PodNetwork {
  let n = loopbackNext++;
  while ((n & 255) === 0 || (n & 255) === 255) n = loopbackNext++;
  return {
    podIp: `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
    enter: () => ({ command: [], spawnAsUid: true }),
    destroy: () => undefined,
  };
}

/** Namespaces of this process's pods: removed when it exits, however it exits short of SIGKILL. */
const live = new Set<string>();
let exitHook = false;

function removeOnExit(ns: string): void {
  live.add(ns);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const n of live) {
      try {
        ip('netns', 'del', n);
      } catch {
        /* gone */
      }
    }
  });
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });

export function namespacedNetwork(): PodNetwork {
  const id = randomBytes(4).toString('hex');
  const ns = `afkube-${id}`;
  const hostIf = `afh${id}`;
  const podIf = `afp${id}`;
  // A random /30 in 10.200.0.0/13: test processes running side by side do not collide.
  const a = 200 + randomInt(8);
  const b = randomInt(256);
  const c = randomInt(64) * 4;
  const hostIp = `10.${a}.${b}.${c + 1}`;
  const podIp = `10.${a}.${b}.${c + 2}`;
  ip('netns', 'add', ns);
  try {
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', podIf, 'netns', ns);
    ip('addr', 'add', `${hostIp}/30`, 'dev', hostIf);
    ip('link', 'set', hostIf, 'up');
    ip('-n', ns, 'addr', 'add', `${podIp}/30`, 'dev', podIf);
    ip('-n', ns, 'link', 'set', podIf, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  } catch (e) {
    try {
      ip('netns', 'del', ns);
    } catch {
      /* best effort */
    }
    throw e;
  }
  removeOnExit(ns);
  return {
    podIp,
    // ip netns exec and setpriv both exec in place: bwrap stays the spawned process (its --die-with-parent holds).
    enter: (uid) => ({
      command: ['ip', 'netns', 'exec', ns, 'setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'],
      spawnAsUid: false,
    }),
    destroy: () => {
      live.delete(ns);
      try {
        ip('netns', 'del', ns); // the veth pair goes with it
      } catch {
        /* already gone */
      }
    },
  };
}

/** A namespaced network where this process may make one, else the loopback stand-in. */
export function podNetwork(): PodNetwork {
  if (process.getuid?.() === 0 && process.env.ASTRAFORGE_KUBE_DOUBLE_NETNS !== '0') {
    try {
      return namespacedNetwork();
    } catch {
      /* no netns here: share the host's network */
    }
  }
  return loopbackNetwork();
}
