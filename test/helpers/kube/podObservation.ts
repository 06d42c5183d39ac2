// What the shared server suites look at when ASTRAFORGE_TEST_SANDBOX=kubernetes.
// A pod's isolation is the cluster's: its processes run as the node's user for
// pods, not as the session's host uid, so a suite finds a session's processes
// by its pod's pid namespace instead (the cluster double's pods run on this
// host; a real cluster's do not, and those checks skip).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { ApiClient } from '../apiClient';

export const KUBE = process.env.ASTRAFORGE_TEST_SANDBOX === 'kubernetes';

/** The pods run on this host: the cluster double that clusterFixture.ts started. */
export function podsRunHere(): boolean {
  return process.env.ASTRAFORGE_TEST_CLUSTER_DOUBLE === '1';
}

/**
 * Each pod has a network of its own (the double's netns and veth, as a CNI gives): only as root;
 * elsewhere the double's pods share the host's network on 127.x addresses.
 */
export function podsHaveTheirOwnNetwork(): boolean {
  return !podsRunHere() || (process.getuid?.() === 0 && process.env.ASTRAFORGE_KUBE_DOUBLE_NETNS !== '0');
}

/** The session's pod's pid namespace (`pid:[inode]`), the same name the host sees it by. */
export async function podPidNamespace(api: ApiClient, sessionId: string): Promise<string> {
  const r = await api.exec(sessionId, 'readlink /proc/self/ns/pid');
  const ns = String(r.body.output ?? '').trim();
  if (!/^pid:\[\d+\]$/.test(ns)) throw new Error(`no pid namespace from the pod: ${JSON.stringify(r.body)}`);
  return ns;
}

/** Live (not zombie) host processes in that pid namespace: the pod's own. */
export function pidsInNamespace(ns: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/pid`) !== ns) continue;
      if (/^State:\s+Z/m.test(readFileSync(`/proc/${name}/status`, 'utf8'))) continue;
      out.push(Number(name));
    } catch {
      /* exited */
    }
  }
  return out;
}
