// The run's diff as git computes it: the arguments of the git calls that
// record a baseline and stage-and-diff against it, and the parser of their
// output. Paths come from `--name-status -z` (exact, whatever the name
// holds); each file's patch is cut from the unified diff printed after it.
// Who runs git, where and as whom is the differ's job (hostWorkspaceDiffer).
export interface DiffFile {
  path: string;
  old_path?: string;
  status: 'added' | 'modified' | 'deleted' | 'renamed';
  binary: boolean;
  old_mode?: string;
  new_mode?: string;
  patch: string;
}

/**
 * Every knob that could change git's output or make it run something,
 * pinned. Config comes from nowhere else: the caller sets
 * GIT_CONFIG_NOSYSTEM and GIT_CONFIG_GLOBAL=/dev/null, and the baseline's own
 * config is written by `git init` only.
 */
const PINNED_CONFIG = [
  'core.quotepath=off',
  'core.autocrlf=false',
  'core.safecrlf=false',
  'core.filemode=true',
  'core.symlinks=true',
  'core.ignorecase=false',
  'core.precomposeunicode=false',
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'core.untrackedCache=false',
  'core.splitIndex=false',
  'core.attributesFile=/dev/null',
  'core.excludesFile=/dev/null',
  'core.fsync=none',
  'diff.renames=true',
  'diff.noprefix=false',
  'diff.mnemonicprefix=false',
  'diff.ignoreSubmodules=all',
  'submodule.recurse=false',
  'color.ui=false',
  'gc.auto=0',
  'maintenance.auto=false',
  'commit.gpgsign=false',
  'protocol.allow=never',
];

/**
 * In the baseline's info/attributes, which wins over every .gitattributes in
 * the work tree: no filter, eol or encoding conversion, no diff driver. What
 * git stores is the bytes on disk.
 */
export const NEUTRAL_ATTRIBUTES = '* !text !eol !crlf !filter !ident !working-tree-encoding !diff !merge !delta !encoding\n';

/** The arguments of `git` with the pinned config on the given repository and work tree. */
export function gitArgs(repo: { gitDir: string; workTree: string }, ...command: string[]): string[] {
  return [`--git-dir=${repo.gitDir}`, `--work-tree=${repo.workTree}`, ...PINNED_CONFIG.flatMap((c) => ['-c', c]), ...command];
}

/** The fixed identity and date of baseline commits, so the same tree gives the same commit. */
export const BASELINE_COMMIT_ENV = {
  GIT_AUTHOR_NAME: 'AstraForge',
  GIT_AUTHOR_EMAIL: 'baseline@astraforge.invalid',
  GIT_AUTHOR_DATE: '2000-01-01T00:00:00Z',
  GIT_COMMITTER_NAME: 'AstraForge',
  GIT_COMMITTER_EMAIL: 'baseline@astraforge.invalid',
  GIT_COMMITTER_DATE: '2000-01-01T00:00:00Z',
};

/**
 * Stages the whole work tree for the baseline. Every file is streamed into
 * one pack (files over the threshold are), not one loose object file each:
 * for 20,000 files that is less than half the time, most of it saved in the
 * kernel. Only here: in a diff the threshold would make every file binary,
 * and a restage would deflate every file again into a pack it then drops.
 */
export const BASELINE_STAGE_STEP: readonly string[] = ['-c', 'core.bigFileThreshold=1', 'add', '-A'];
/**
 * Stages the work tree before a diff. The first one after the baseline
 * rehashes every file (the hand-over to the sandbox's uid changed their
 * owner and ctime in git's eyes) but writes only the changed ones.
 */
export const STAGE_STEP: readonly string[] = ['add', '-A'];
/** After BASELINE_STAGE_STEP, with BASELINE_COMMIT_ENV. */
export const COMMIT_STEP: readonly string[] = ['commit', '-q', '--allow-empty', '--no-verify', '-m', 'baseline'];
export const NAME_STATUS_STEP: readonly string[] = ['diff', '--cached', '-M', '--name-status', '-z', '--no-ext-diff', 'HEAD', '--'];
export const PATCH_STEP: readonly string[] = [
  'diff',
  '--cached',
  '-M',
  '--no-color',
  '--no-ext-diff',
  '--no-textconv',
  '--full-index',
  'HEAD',
  '--',
];

interface NameStatus {
  status: DiffFile['status'];
  path: string;
  old_path?: string;
}

function parseNameStatus(text: string): NameStatus[] {
  const fields = text.split('\0');
  const out: NameStatus[] = [];
  for (let i = 0; i < fields.length;) {
    const code = fields[i++];
    if (!code) continue;
    const letter = code[0];
    if (letter === 'R' || letter === 'C') {
      const from = fields[i++];
      const to = fields[i++];
      out.push(letter === 'R' ? { status: 'renamed', path: to, old_path: from } : { status: 'added', path: to });
      continue;
    }
    const path = fields[i++];
    const status = letter === 'A' ? 'added' : letter === 'D' ? 'deleted' : 'modified';
    out.push({ status, path });
  }
  return out;
}

function splitPatches(text: string): string[] {
  const chunks: string[] = [];
  let start = -1;
  let at = 0;
  while (at <= text.length) {
    const isHeader = text.startsWith('diff --git ', at);
    if (isHeader) {
      if (start >= 0) chunks.push(text.slice(start, at));
      start = at;
    }
    const nl = text.indexOf('\n', at);
    if (nl < 0) break;
    at = nl + 1;
  }
  if (start >= 0) chunks.push(text.slice(start));
  return chunks;
}

function headerValue(patch: string, prefix: string): string | undefined {
  const end = patch.indexOf('\n@@');
  const header = end < 0 ? patch : patch.slice(0, end);
  for (const line of header.split('\n')) if (line.startsWith(prefix)) return line.slice(prefix.length).trim();
  return undefined;
}

/** The files of a diff from the output of NAME_STATUS_STEP and PATCH_STEP. */
export function parseGitDiff(nameStatus: string, patchText: string): DiffFile[] {
  const entries = parseNameStatus(nameStatus);
  const patches = splitPatches(patchText);
  if (patches.length !== entries.length) {
    throw new Error(`git listed ${entries.length} changed files but printed ${patches.length} patches`);
  }
  return entries.map((e, i) => {
    const patch = patches[i];
    const header = patch.slice(0, Math.max(0, patch.indexOf('\n@@')) || patch.length);
    const binary = /^Binary files .* differ$/m.test(header) || header.includes('GIT binary patch');
    const oldMode =
      headerValue(patch, 'old mode ') ?? headerValue(patch, 'deleted file mode ') ?? headerValue(patch, 'index ')?.split(' ')[1];
    const newMode = headerValue(patch, 'new mode ') ?? headerValue(patch, 'new file mode ') ?? headerValue(patch, 'index ')?.split(' ')[1];
    const file: DiffFile = { path: e.path, status: e.status, binary, patch };
    if (e.old_path !== undefined) file.old_path = e.old_path;
    if (e.status !== 'added' && oldMode) file.old_mode = oldMode;
    if (e.status !== 'deleted' && newMode) file.new_mode = newMode;
    return file;
  });
}
