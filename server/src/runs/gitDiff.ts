// The run's diff, computed by git inside the sandbox: the commands that
// record a baseline and stage-and-diff against it, and the parser of their
// output. Paths come from `--name-status -z` (exact, whatever the name
// holds); each file's patch is cut from the unified diff that follows.
export interface DiffFile {
  path: string;
  old_path?: string;
  status: 'added' | 'modified' | 'deleted' | 'renamed';
  binary: boolean;
  old_mode?: string;
  new_mode?: string;
  patch: string;
}

export const DIFF_SEPARATOR = '@@ASTRAFORGE-PATCH@@';

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** git with every knob that could change its output pinned, and no user or system config. */
function git(opts: { gitDir: string; workTree: string }): string {
  return [
    'GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0 GIT_PAGER=cat',
    'git',
    `--git-dir=${q(opts.gitDir)}`,
    `--work-tree=${q(opts.workTree)}`,
    '-c core.quotepath=off -c core.autocrlf=false -c core.filemode=true -c core.symlinks=true',
    '-c diff.renames=true -c diff.noprefix=false -c diff.mnemonicprefix=false -c color.ui=false',
    '-c gc.auto=0 -c commit.gpgsign=false -c core.hooksPath=/dev/null -c core.fsmonitor=false',
  ].join(' ');
}

/**
 * Records the work tree as it is now as the baseline commit and prints its
 * hash. The git folder lives where the caller says (excluded from the tree if
 * inside it); a `.git` of the user's own is never part of it (git never adds
 * `.git` paths).
 */
export function gitBaselineCommand(opts: { gitDir: string; workTree: string }): string {
  const g = git(opts);
  const rel = opts.gitDir.startsWith(`${opts.workTree}/`) ? opts.gitDir.slice(opts.workTree.length) : undefined;
  return [
    'set -e',
    `rm -rf ${q(opts.gitDir)}`,
    `${g} init -q`,
    `mkdir -p ${q(`${opts.gitDir}/info`)}`,
    `printf '%s\\n' ${rel ? q(rel) : "''"} > ${q(`${opts.gitDir}/info/exclude`)}`,
    // Every file streamed into one pack (files over the threshold are), not one loose object file each:
    // for 20,000 files that is less than half the time, most of it saved in the kernel. Nothing is
    // synced to disk: the baseline lives no longer than the sandbox.
    `${g} -c core.bigFileThreshold=1 -c core.fsync=none add -A`,
    `GIT_AUTHOR_NAME=AstraForge GIT_AUTHOR_EMAIL=baseline@astraforge.invalid GIT_AUTHOR_DATE='2000-01-01T00:00:00Z' ` +
      `GIT_COMMITTER_NAME=AstraForge GIT_COMMITTER_EMAIL=baseline@astraforge.invalid GIT_COMMITTER_DATE='2000-01-01T00:00:00Z' ` +
      `${g} commit -q --allow-empty --no-verify -m baseline`,
    `${g} rev-parse HEAD`,
  ].join('\n');
}

/** Stages everything and prints name-status (NUL-separated), the separator, then the unified diff. */
export function gitDiffCommand(opts: { gitDir: string; workTree: string; baseline: string }): string {
  const g = git(opts);
  const base = q(opts.baseline);
  return [
    'set -e',
    `${g} add -A`,
    `${g} diff --cached -M --name-status -z ${base} --`,
    `printf '\\n%s\\n' ${q(DIFF_SEPARATOR)}`,
    `${g} diff --cached -M --no-color --no-ext-diff --full-index ${base} --`,
  ].join('\n');
}

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

export function parseGitDiff(output: string): DiffFile[] {
  const sep = output.indexOf(`\n${DIFF_SEPARATOR}\n`);
  if (sep < 0) throw new Error('unexpected git output: no separator');
  const entries = parseNameStatus(output.slice(0, sep));
  const patches = splitPatches(output.slice(sep + DIFF_SEPARATOR.length + 2));
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
