// The bubblewrap command line for one session: every namespace unshared,
// no capabilities, an unprivileged uid, read-only system folders, a private
// /tmp, /dev and /proc, and only /workspace writable from the host.
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { EGRESS_SOCKET_PATH, GATEWAY_SOCKET_PATH, runnerArgs } from '../runnerFlags';
import type { SandboxAttachments, SandboxLimits } from '../sandboxProvider';

export const SANDBOX_UID = 1000;
export const RUNNER_PATH = '/.astraforge/af-runner';
export const SANDBOX_HOME = '/home/sandbox';

/** /etc entries a toolchain needs; the rest of the host's /etc stays invisible. */
const ETC_ENTRIES = [
  'alternatives',
  'ssl',
  'ca-certificates',
  'ca-certificates.conf',
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'localtime',
  'nsswitch.conf',
  'mime.types',
  'os-release',
  'debian_version',
  'bash.bashrc',
  'inputrc',
  'gitconfig',
];

export interface BwrapLayout {
  /** Root filesystem the system folders come from: '/' for the host's own, or an image folder. */
  rootfs: string;
  workspaceDir: string;
  runnerBinary: string;
  /** Generated passwd, group and hosts files for the sandbox user. */
  etcDir: string;
  shell: string;
}

function systemFolderArgs(rootfs: string): string[] {
  const args: string[] = ['--ro-bind', `${rootfs}/usr`.replace('//', '/'), '/usr'];
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const host = `${rootfs}/${name}`.replace('//', '/');
    if (!existsSync(host)) continue;
    const st = lstatSync(host);
    if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(host), `/${name}`);
    else if (st.isDirectory()) args.push('--ro-bind', host, `/${name}`);
  }
  args.push('--dir', '/etc');
  for (const name of ETC_ENTRIES) {
    const host = `${rootfs}/etc/${name}`.replace('//', '/');
    if (existsSync(host)) args.push('--ro-bind', host, `/etc/${name}`);
  }
  return args;
}

function attachmentMounts(attachments: SandboxAttachments | undefined): string[] {
  const mounts: string[] = [];
  for (const f of attachments?.readOnlyFiles ?? []) mounts.push('--ro-bind', f.hostPath, f.sandboxPath);
  const relay = attachments?.loopbackRelay;
  if (relay) {
    // connect() needs no write access to the mount, so the socket can be bound read-only.
    mounts.push('--ro-bind', relay.hostSocket, GATEWAY_SOCKET_PATH);
  }
  const egress = attachments?.egressRelay;
  if (egress) mounts.push('--ro-bind', egress.hostSocket, EGRESS_SOCKET_PATH);
  return mounts;
}

function environmentArgs(attachments: SandboxAttachments | undefined): string[] {
  return Object.entries(attachments?.environment ?? {}).flatMap(([name, value]) => ['--setenv', name, value]);
}

/**
 * bwrap's options, handed over through `--args FD` (they name host folders), and
 * the command, which stays on bwrap's command line (bwrap takes the command from
 * there only) and names nothing of the host.
 */
export interface BwrapCommandLine {
  options: string[];
  command: string[];
}

export function bwrapArgs(layout: BwrapLayout, limits: SandboxLimits, attachments?: SandboxAttachments): BwrapCommandLine {
  // prettier-ignore
  const options = [
    '--unshare-all', '--unshare-user', '--disable-userns',
    '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_UID),
    '--hostname', 'sandbox',
    // The runner is pid 1: no bwrap init inside holding its pipes, and pid 1 ignores the signals of its own namespace.
    '--die-with-parent', '--new-session', '--as-pid-1',
    '--cap-drop', 'ALL',
    '--clearenv',
    '--setenv', 'PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    '--setenv', 'HOME', SANDBOX_HOME,
    '--setenv', 'USER', 'sandbox',
    '--setenv', 'LOGNAME', 'sandbox',
    '--setenv', 'SHELL', layout.shell,
    '--setenv', 'LANG', 'C.UTF-8',
    '--setenv', 'TERM', 'dumb',
    '--setenv', 'TMPDIR', '/tmp',
    ...environmentArgs(attachments),
    ...systemFolderArgs(layout.rootfs),
    '--ro-bind', `${layout.etcDir}/passwd`, '/etc/passwd',
    '--ro-bind', `${layout.etcDir}/group`, '/etc/group',
    '--ro-bind', `${layout.etcDir}/hosts`, '/etc/hosts',
    '--proc', '/proc',
    '--dev', '/dev',
    '--size', String(limits.tmpBytes), '--perms', '1777', '--tmpfs', '/tmp',
    '--dir', '/var',
    '--symlink', '../tmp', '/var/tmp',
    '--size', String(64 * 1024 * 1024), '--perms', '0755', '--tmpfs', SANDBOX_HOME,
    '--bind', layout.workspaceDir, '/workspace',
    '--ro-bind', layout.runnerBinary, RUNNER_PATH,
    ...attachmentMounts(attachments),
    // bwrap's own root is a tmpfs the sandbox could write; after this only the mounts above are writable.
    '--remount-ro', '/',
    '--chdir', '/workspace',
  ];
  const command = [
    RUNNER_PATH,
    '--shell',
    layout.shell,
    ...runnerArgs(limits, attachments?.loopbackRelay?.port, attachments?.egressRelay?.port),
  ];
  return { options, command };
}
