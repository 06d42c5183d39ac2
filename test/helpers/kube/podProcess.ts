// One "pod" of the controller double: the sandbox image's entrypoint
// (af-runner in its TCP mode, with the container's own arguments) run in
// bubblewrap on the host, with the pod's own loopback address as its IP, an
// emptyDir as /workspace, and the downward API's annotations file where the
// template mounts it. The host's /usr stands in for the image's system
// folders (the image is built from the same Debian packages). The network is
// shared (pods have one; NetworkPolicy is the cluster's business).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { PodNetwork } from './podNetwork';
import type { SessionCgroup } from '../../../server/src/sandboxes/host/sessionCgroup';
import { podCgroup, podLimits, type ContainerResources } from './podResources';

/** Where the image keeps af-runner (server/deploy/images/sandbox.Dockerfile). */
export const IMAGE_RUNNER_PATH = '/opt/astraforge/bin/af-runner';
/** The host uid pods run as: what they write lands as this uid, never root. */
export const POD_HOST_UID = 61_000;

export interface PodContainer {
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  volumeMounts?: { name: string; mountPath: string }[];
  resources?: ContainerResources;
}

export interface PodSpecLike {
  containers: PodContainer[];
  volumes?: { name: string; downwardAPI?: unknown; emptyDir?: unknown }[];
}

export interface PodStart {
  name: string;
  /** The pod's network (podNetwork.ts): its IP, and how to run a process in it. */
  network: PodNetwork;
  spec: PodSpecLike;
  dir: string;
  runnerBinary: string;
  /** More of the image's files: host file -> path in the pod (the entrypoint, the runtime API). */
  imageFiles?: { host: string; path: string }[];
  bwrapPath?: string;
  /** The node's pod pids limit (kubelet's podPidsLimit). */
  podPidsLimit?: number;
}

/** kubelet's podPidsLimit in the double when the controller names none. */
export const DEFAULT_POD_PIDS_LIMIT = 1024;

export class PodProcess {
  private child: ChildProcess | undefined;
  private stderr = '';
  readonly exited: Promise<void>;
  private resolveExit!: () => void;
  readonly port: number;
  private readonly podinfo: string;
  /** The pod's cgroup (its container's limits), where this process may make one. */
  cgroup: SessionCgroup | undefined;

  constructor(private readonly o: PodStart) {
    this.exited = new Promise((r) => (this.resolveExit = r));
    const args = containerArgs(o.spec.containers[0]);
    const listen = args.indexOf('--listen');
    this.port = listen >= 0 ? Number(args[listen + 1]) : 0;
    this.podinfo = join(o.dir, 'podinfo');
  }

  get ip(): string {
    return this.o.network.podIp;
  }

  get logs(): string {
    return this.stderr;
  }

  /** The downward API's annotations file, as kubelet writes it (key="value" lines). */
  setAnnotations(annotations: Record<string, string>): void {
    const text = Object.entries(annotations)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join('\n');
    const tmp = join(this.podinfo, '.annotations.tmp');
    writeFileSync(tmp, `${text}\n`, { mode: 0o644 });
    // Renamed into place, as kubelet swaps its atomic-writer symlink: a reader never sees half a file.
    renameSync(tmp, join(this.podinfo, 'annotations'));
  }

  start(): void {
    const { spec } = this.o;
    const container = spec.containers[0];
    const argv = containerArgs(container);
    if (!argv.length) throw new Error('the pod template names no command');
    const workspace = join(this.o.dir, 'workspace');
    mkdirSync(workspace, { recursive: true });
    mkdirSync(this.podinfo, { recursive: true });
    chownSync(workspace, POD_HOST_UID, POD_HOST_UID);
    chmodSync(this.o.dir, 0o755);
    if (!existsSync(join(this.podinfo, 'annotations'))) this.setAnnotations({});
    writeFileSync(
      join(this.o.dir, 'passwd'),
      `root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:1000:1000:sandbox:/home/sandbox:/bin/bash\n`,
    );
    writeFileSync(join(this.o.dir, 'group'), 'root:x:0:\nsandbox:x:1000:\n');
    writeFileSync(join(this.o.dir, 'hosts'), `127.0.0.1 localhost\n${this.ip} ${this.o.name}\n`);
    const mounts: string[] = [];
    for (const m of container.volumeMounts ?? []) {
      const vol = spec.volumes?.find((v) => v.name === m.name);
      if (vol?.downwardAPI) mounts.push('--ro-bind', this.podinfo, m.mountPath);
      else if (m.mountPath === '/workspace') mounts.push('--bind', workspace, '/workspace');
      else mounts.push('--size', String(64 << 20), '--perms', '1777', '--tmpfs', m.mountPath);
    }
    if (!mounts.includes('/workspace')) mounts.push('--bind', workspace, '/workspace');
    // The pod's IP: its own loopback address (all of 127/8 reaches lo), so every pod listens on the template's port.
    const command = argv.map((a, i) => (argv[i - 1] === '--listen' ? `${this.ip}:${a.split(':').pop()}` : a));
    // prettier-ignore
    const options = [
      '--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
      '--uid', '1000', '--gid', '1000', '--hostname', this.o.name,
      '--die-with-parent', '--new-session', '--as-pid-1', '--cap-drop', 'ALL', '--clearenv',
      '--setenv', 'PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      '--setenv', 'HOME', '/home/sandbox', '--setenv', 'LANG', 'C.UTF-8', '--setenv', 'TERM', 'dumb',
      '--setenv', 'HOSTNAME', this.o.name,
      '--ro-bind', '/usr', '/usr',
      '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/sbin', '/sbin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64',
      '--dir', '/etc',
      ...['ssl', 'ca-certificates', 'alternatives', 'ld.so.cache', 'nsswitch.conf', 'os-release', 'debian_version', 'localtime']
        .flatMap((e) => ['--ro-bind-try', `/etc/${e}`, `/etc/${e}`]),
      '--ro-bind', join(this.o.dir, 'passwd'), '/etc/passwd',
      '--ro-bind', join(this.o.dir, 'group'), '/etc/group',
      '--ro-bind', join(this.o.dir, 'hosts'), '/etc/hosts',
      '--proc', '/proc', '--dev', '/dev',
      '--size', String(256 << 20), '--perms', '1777', '--tmpfs', '/tmp',
      '--size', String(64 << 20), '--perms', '0777', '--tmpfs', '/home/sandbox',
      ...mounts,
      '--ro-bind', this.o.runnerBinary, IMAGE_RUNNER_PATH,
      ...(this.o.imageFiles ?? []).flatMap((f) => ['--ro-bind', f.host, f.path]),
      ...containerEnv(container, this.ip).flatMap(([k, v]) => ['--setenv', k, v]),
      '--remount-ro', '/',
      '--chdir', '/workspace',
    ];
    const enter = this.o.network.enter(POD_HOST_UID);
    // As a kubelet does, the pod's processes start in its cgroup: the first one waits for a line
    // on stdin, sent once it has been moved there, so nothing it starts is left outside.
    this.cgroup = podCgroup(this.o.name, podLimits(container.resources, this.o.podPidsLimit ?? DEFAULT_POD_PIDS_LIMIT));
    const [file, ...prefix] = ['sh', '-c', 'read -r _; exec "$@" </dev/null', 'sh', ...enter.command, this.o.bwrapPath ?? 'bwrap'];
    const child = spawn(file, [...prefix, '--args', '3', '--', ...command], {
      stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
      ...(enter.spawnAsUid ? { uid: POD_HOST_UID, gid: POD_HOST_UID } : {}),
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      cwd: '/',
    });
    if (child.pid) this.cgroup?.addProcess(child.pid);
    child.stdin!.on('error', () => undefined);
    child.stdin!.end('\n');
    const argsPipe = child.stdio[3] as NodeJS.WritableStream & { on(e: 'error', f: () => void): void };
    argsPipe.on('error', () => undefined);
    argsPipe.end(Buffer.from(options.map((a) => `${a}\0`).join('')));
    child.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 8192) this.stderr += d.toString();
    });
    child.once('exit', () => this.resolveExit());
    child.once('error', (e) => {
      this.stderr += e.message;
      this.resolveExit();
    });
    this.child = child;
  }

  get alive(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The readiness probe (tcpSocket on the runner's port): a connection is accepted. */
  probe(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = connect({ host: this.ip, port: this.port });
      const done = (ok: boolean) => {
        s.destroy();
        resolve(ok);
      };
      s.once('connect', () => done(true));
      s.once('error', () => done(false));
      s.setTimeout(500, () => done(false));
    });
  }

  async stop(): Promise<void> {
    if (this.alive) this.child!.kill('SIGKILL');
    if (this.child) await this.exited;
    this.cgroup?.remove();
    this.o.network.destroy();
    rmSync(this.o.dir, { recursive: true, force: true });
  }
}

/** The container's env: plain values, and the downward API's status.podIP. */
function containerEnv(c: PodContainer, ip: string): [string, string][] {
  const out: [string, string][] = [];
  for (const e of c.env ?? []) {
    if (e.value !== undefined) out.push([e.name, e.value]);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'status.podIP') out.push([e.name, ip]);
  }
  return out;
}

function containerArgs(c: PodContainer | undefined): string[] {
  return [...(c?.command ?? []), ...(c?.args ?? [])];
}
