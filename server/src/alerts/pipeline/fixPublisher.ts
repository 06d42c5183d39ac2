// A succeeded run's fix, out into the world: its diff committed on
// `astraforge/<issue>-<run>` in the server's own clone (the text patches
// through `git apply`, binary files straight into the index), pushed, and
// proposed as a draft pull request whose description says what broke, what
// the agent did and which tests it ran.
import { RunEventName, type Run, type RunDiff, type RunEvent } from '@astraforge/contract/runApi';
import type { Alert, PullRequestRef } from '@astraforge/contract/alertsApi';
import type { HostGit } from '../outbound/hostGit';
import type { PullRequestProvider } from '../outbound/pullRequests';
import type { RunsPort } from './runsPort';

const MAX_SUMMARY_CHARS = 4000;
const BINARY_BATCH = 50;

export interface FixContext {
  alert: Alert;
  run: Run;
  diff: RunDiff;
  /** The clone, at the alert's base commit. */
  dir: string;
  baseBranch: string;
  publicUrl?: string;
}

export function fixBranchName(issueId: string, runId: string): string {
  const issue = issueId.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 60);
  return `astraforge/${issue}-${runId}`;
}

export class FixPublisher {
  constructor(
    private readonly git: HostGit,
    private readonly runs: RunsPort,
  ) {}

  /** Commits the run's diff on the fix branch and pushes it; returns the branch. */
  async commitAndPush(ctx: FixContext): Promise<string> {
    const { alert, run, diff, dir } = ctx;
    const branch = fixBranchName(alert.issue_id, run.id);
    await this.git.checkoutNewBranch(dir, branch, alert.base_commit ?? 'HEAD');
    await this.git.applyPatch(
      dir,
      diff.files
        .filter((f) => !f.binary)
        .map((f) => f.patch)
        .join(''),
    );
    await this.stageBinaryFiles(ctx);
    const commit = await this.git.commit(dir, commitMessage(alert, run));
    if (!commit) throw new Error('the diff changed nothing once applied to the repository');
    await this.git.push(dir, branch);
    return branch;
  }

  async propose(provider: PullRequestProvider, ctx: FixContext, branch: string): Promise<PullRequestRef> {
    return provider.open({ branch, base: ctx.baseBranch, title: `Fix ${ctx.alert.title}`.slice(0, 250), body: this.description(ctx) });
  }

  description(ctx: Pick<FixContext, 'alert' | 'run' | 'diff' | 'publicUrl'>): string {
    return fixDescription(this.runs, ctx);
  }

  /** Binary files are not in the text patches: their new content is read from the run's sandbox while it lives. */
  private async stageBinaryFiles({ run, diff, dir }: FixContext): Promise<void> {
    const binary = diff.files.filter((f) => f.binary);
    const gone = binary.flatMap((f) => (f.status === 'deleted' ? [f.path] : f.status === 'renamed' && f.old_path ? [f.old_path] : []));
    await this.git.unstage(dir, gone);
    const wanted = binary.filter((f) => f.status !== 'deleted');
    for (let i = 0; i < wanted.length; i += BINARY_BATCH) {
      const batch = wanted.slice(i, i + BINARY_BATCH);
      const { files } = await this.runs.proposedFiles(
        run.id,
        batch.map((f) => f.path),
      );
      for (const f of batch) {
        const content = files.find((x) => x.path === f.path)?.content_base64;
        if (content === undefined) throw new Error(`the sandbox no longer holds ${f.path}; the fix cannot be committed whole`);
        await this.git.stageContent(dir, f.path, Buffer.from(content, 'base64'), f.new_mode === '100755' ? '100755' : '100644');
      }
    }
  }
}

/** The pull request's description, rebuilt from the alert and its run (a repeat alert rewrites it). */
export function fixDescription(runs: RunsPort, ctx: Pick<FixContext, 'alert' | 'run' | 'diff' | 'publicUrl'>): string {
  const { alert, run, diff } = ctx;
  const tracker = alert.source === 'sentry' ? 'Sentry' : 'GlitchTip';
  const events = runs.follow(run.id, 0, () => undefined);
  events.unsubscribe();
  const out: string[] = [
    `**${tracker} issue ${alert.link ? `[${alert.issue_id}](${alert.link})` : alert.issue_id}**: ${alert.title}`,
    '',
    `Seen ${alert.occurrences} time(s) since the fix was requested (last update ${alert.updated_at}).`,
  ];
  const error = alert.error;
  if (error?.exceptions.length || error?.frames.length) {
    out.push('', '### The error', '```');
    for (const e of error.exceptions) out.push(`${e.type ?? 'Error'}: ${e.value ?? ''}`);
    for (const f of error.frames.slice(0, 8)) out.push(`    at ${f.function ?? '<anonymous>'} (${f.file}:${f.line ?? '?'})`);
    out.push('```');
    if (error.release || error.environment)
      out.push(`Release ${error.release ?? 'unknown'}, environment ${error.environment ?? 'unknown'}.`);
  }
  const summary = lastAgentMessage(events.past);
  out.push('', '### What the agent did', summary ? quote(summary.slice(0, MAX_SUMMARY_CHARS)) : '_The agent left no summary._');
  const commands = commandsRun(events.past);
  out.push('', '### Commands and tests it ran');
  if (commands.length)
    for (const c of commands.slice(-15)) out.push(`- \`${c.command.replace(/`/g, "'").slice(0, 200)}\` → exit ${c.exit}`);
  else out.push('_None reported._');
  out.push('', '### Changes', ...diff.files.slice(0, 50).map((f) => `- \`${f.path}\` (${f.status})`));
  const runLink = ctx.publicUrl ? `${ctx.publicUrl.replace(/\/+$/, '')}/api/runs/${run.id}` : undefined;
  out.push(
    '',
    '### The run',
    `Run \`${run.id}\` (${run.agent})${runLink ? `: ${runLink}` : ''}, on ${alert.base_commit ? `commit ${alert.base_commit.slice(0, 12)}` : 'the base branch'}.`,
    'It is in the run list of every VS Code connected to this AstraForge server, where the change can be reviewed and applied locally.',
    '',
    '_Opened as a draft by AstraForge from a production alert: review it before merging._',
  );
  return out.join('\n');
}

function commitMessage(alert: Alert, run: Run): string {
  const tracker = alert.source === 'sentry' ? 'Sentry' : 'GlitchTip';
  return [
    `Fix ${alert.title}`.slice(0, 72),
    '',
    `${tracker} issue ${alert.issue_id}${alert.link ? ` (${alert.link})` : ''}.`,
    `AstraForge run ${run.id}.`,
  ].join('\n');
}

function lastAgentMessage(events: RunEvent[]): string | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e.type === RunEventName.agentMessage && e.text.trim()) return e.text.trim();
  }
  return undefined;
}

function commandsRun(events: RunEvent[]): { command: string; exit: number | string }[] {
  const out: { command: string; exit: number | string }[] = [];
  for (const e of events) {
    if (e.type === RunEventName.commandFinished) out.push({ command: e.command, exit: e.exit_code });
    else if (e.type === RunEventName.toolFinished && e.command) out.push({ command: e.command, exit: e.exit_code ?? e.status ?? '?' });
  }
  return out;
}

function quote(text: string): string {
  return text
    .split('\n')
    .map((l) => `> ${l}`)
    .join('\n');
}
