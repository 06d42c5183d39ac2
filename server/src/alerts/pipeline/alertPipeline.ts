// One alert from its turn in the queue to its outcome: the latest event
// fetched when the webhook had no stack, the repository cloned on the host
// at the release's commit (else the base branch), snapshotted into a normal
// error run, the run awaited, and a succeeded run's diff checked against the
// protected paths and proposed as a draft pull request. Each step is saved
// on the alert, so a restart resumes where it stopped.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TERMINAL_STATUSES, type Run } from '@astraforge/contract/runApi';
import type { Alert, AlertStatus } from '@astraforge/contract/alertsApi';
import type { AlertsConfig } from '../alertsConfig';
import { reportFromEvent } from '../intake/errorReport';
import { HostGit } from '../outbound/hostGit';
import { pullRequestProvider } from '../outbound/pullRequests';
import type { TrackerApi } from '../outbound/trackerApi';
import type { AlertStore } from '../store/alertStore';
import { errorTaskFor } from './errorTask';
import { FixPublisher, fixDescription } from './fixPublisher';
import { routeFor, type ProjectRoute } from './projectRoutes';
import { protectedPathsTouched } from './protectedPaths';
import type { RunsPort, SnapshotsPort } from './runsPort';

const RUN_POLL_MS = 500;

export interface PipelineDeps {
  config: AlertsConfig;
  store: AlertStore;
  runs: RunsPort;
  snapshots: SnapshotsPort;
  /** Where clones are made, one folder per alert, removed when it is done. */
  workDir: string;
  trackers: { sentry?: TrackerApi; glitchtip?: TrackerApi };
  log: (obj: Record<string, unknown>, msg: string) => void;
}

export class AlertPipeline {
  private stopped = false;

  constructor(private readonly deps: PipelineDeps) {
    mkdirSync(deps.workDir, { recursive: true, mode: 0o700 });
  }

  stop(): void {
    this.stopped = true;
  }

  /** Takes the alert as far as it goes; never throws (a failure is the alert's outcome). */
  async process(alert: Alert): Promise<void> {
    const dir = join(this.deps.workDir, alert.id);
    try {
      const route = routeFor(this.deps.config, alert.project);
      if (!route) return this.finish(alert, 'failed', `project "${alert.project}" is no longer mapped in the config`);
      if (!alert.run_id) await this.startRun(alert, route, dir);
      const run = await this.awaitRun(alert, route);
      if (this.stopped) return;
      await this.conclude(alert, route, run, dir);
    } catch (e) {
      if (!this.stopped) this.finish(alert, 'failed', (e as Error).message);
    } finally {
      if (!this.stopped) rmSync(dir, { recursive: true, force: true });
    }
  }

  private async startRun(alert: Alert, route: ProjectRoute, dir: string): Promise<void> {
    this.update(alert, { status: 'preparing', started_at: new Date().toISOString() });
    await this.fetchEventIfMissing(alert);
    rmSync(dir, { recursive: true, force: true });
    const git = new HostGit(route.git, this.deps.config.author);
    await git.clone(dir, route.policy.branch);
    const release = alert.error?.release;
    const releaseCommit = release ? await git.releaseCommit(dir, release) : undefined;
    const base = releaseCommit ?? (await git.head(dir));
    if (release && !releaseCommit) this.note(alert, `release "${release}" maps to no commit: the fix starts from ${route.policy.branch}`);
    await git.checkoutNewBranch(dir, 'astraforge-base', base);
    const snapshot_id = await this.snapshotOf(dir);
    const run = this.deps.runs.create(
      {
        agent: route.policy.agent,
        task: errorTaskFor(alert, route.policy.command),
        snapshot_id,
        // The project's egress (package registries, say), bounded by the server's like any run's.
        ...(route.policy.network ? { network: { mode: 'allowlist' as const, allow: route.policy.network } } : {}),
      },
      {
        source: {
          kind: alert.source,
          issue_id: alert.issue_id,
          title: alert.title,
          ...(alert.link ? { url: alert.link } : {}),
          alert_id: alert.id,
        },
        ...(route.policy.model ? { model: route.policy.model } : {}),
      },
    );
    this.update(alert, { status: 'running', run_id: run.id, base_commit: base });
    this.deps.log({ alert_id: alert.id, run_id: run.id, project: alert.project, issue_id: alert.issue_id }, 'alert run started');
  }

  /** The clone's files, without .git: the snapshot holds the files, the run makes its own baseline. */
  private async snapshotOf(dir: string): Promise<string> {
    const tar = spawn('tar', ['-C', dir, '--exclude=./.git', '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    tar.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number>((resolve) => tar.on('close', (code) => resolve(code ?? 1)));
    const { snapshot_id } = await this.deps.snapshots.ingest(tar.stdout, { gzip: false });
    // A tar that died midway ends its stream early: a snapshot of part of the repository is no snapshot.
    const code = await exited;
    if (code !== 0) throw new Error(`packing the clone failed (tar exited ${code}): ${stderr.trim().slice(0, 300)}`);
    return snapshot_id;
  }

  /** GlitchTip's webhook and Sentry's issue webhook carry no stack: the latest event through the REST API has it. */
  private async fetchEventIfMissing(alert: Alert): Promise<void> {
    if (alert.error?.frames.length) return;
    const api = this.deps.trackers[alert.source];
    if (!api) {
      this.note(alert, `no ${alert.source} API is configured: the run gets the error without its stack trace`);
      return;
    }
    try {
      const event = await api.latestEvent(alert.issue_id);
      const report = reportFromEvent(event, { breadcrumbs: this.deps.config.breadcrumbs, link: alert.link, fallbackTitle: alert.title });
      report.release ??= alert.error?.release;
      report.environment ??= alert.error?.environment;
      this.update(alert, { error: report });
    } catch (e) {
      this.note(alert, `the latest event could not be fetched: ${(e as Error).message}`);
    }
  }

  private async awaitRun(alert: Alert, route: ProjectRoute): Promise<Run> {
    const runId = alert.run_id!;
    const started = Date.parse(alert.started_at ?? alert.created_at);
    const limitMs = route.policy.maxSeconds ? route.policy.maxSeconds * 1000 : undefined;
    let cancelled = false;
    for (;;) {
      const run = this.deps.runs.get(runId);
      if (TERMINAL_STATUSES.includes(run.status) || this.stopped) return run;
      if (limitMs !== undefined && !cancelled && Date.now() - started > limitMs) {
        cancelled = true;
        this.note(alert, `the run passed the project's ${route.policy.maxSeconds} s limit and was cancelled`);
        this.deps.runs.cancel(runId);
      }
      await new Promise((r) => setTimeout(r, RUN_POLL_MS));
    }
  }

  private async conclude(alert: Alert, route: ProjectRoute, run: Run, dir: string): Promise<void> {
    if (run.status !== 'succeeded') return this.finish(alert, 'failed', `the run ended ${run.status}${run.error ? `: ${run.error}` : ''}`);
    const diff = this.deps.runs.diff(run.id);
    if (!diff.files.length) return this.finish(alert, 'no_changes', 'the run succeeded without changing any file');
    const touched = protectedPathsTouched(diff.files, route.policy.protectedPaths);
    if (touched.length) return this.finish(alert, 'blocked', `the diff changes protected paths: ${touched.slice(0, 20).join(', ')}`);
    const pr = route.policy.pullRequest;
    if (!pr) return this.finish(alert, 'fixed', 'no pull request is configured: review and apply the run in VS Code');
    this.update(alert, { status: 'publishing' });
    const git = new HostGit(route.git, this.deps.config.author);
    // After a restart the clone is gone: made again at the same commit.
    if (!existsSync(join(dir, '.git'))) await git.clone(dir, route.policy.branch);
    const publisher = new FixPublisher(git, this.deps.runs);
    const ctx = { alert, run, diff, dir, baseBranch: route.policy.branch, publicUrl: this.deps.config.publicUrl };
    const branch = await publisher.commitAndPush(ctx);
    const ref = await publisher.propose(pullRequestProvider(pr), ctx, branch);
    this.update(alert, { status: 'proposed', pull_request: ref, reason: undefined });
    this.deps.log({ alert_id: alert.id, run_id: run.id, pull_request: ref.url }, 'alert fix proposed');
    await this.commentOnIssue(alert, `AstraForge proposed a fix for this issue: ${ref.url} (a draft, from run ${run.id}).`);
  }

  /**
   * A repeat alert for an issue whose pull request is out: the description
   * shows the new count while it is open; once merged or closed, the alert
   * is closed and the next one starts a new fix.
   */
  async refreshProposed(alert: Alert): Promise<void> {
    const route = routeFor(this.deps.config, alert.project);
    const ref = alert.pull_request;
    if (!route?.policy.pullRequest || !ref || !alert.run_id) return;
    const provider = pullRequestProvider(route.policy.pullRequest);
    try {
      if (!(await provider.isOpen(ref))) {
        this.update(alert, { status: 'closed', reason: `pull request ${ref.url} was merged or closed` });
        return;
      }
      const run = this.deps.runs.get(alert.run_id);
      const body = fixDescription(this.deps.runs, { alert, run, diff: this.deps.runs.diff(run.id), publicUrl: this.deps.config.publicUrl });
      await provider.describe(ref, body);
    } catch (e) {
      this.note(alert, `the pull request could not be updated: ${(e as Error).message}`);
    }
  }

  private async commentOnIssue(alert: Alert, text: string): Promise<void> {
    const api = this.deps.trackers[alert.source];
    if (!api) return;
    try {
      await api.comment(alert.issue_id, text);
    } catch (e) {
      this.note(alert, `the comment on the issue failed: ${(e as Error).message}`);
    }
  }

  private finish(alert: Alert, status: AlertStatus, reason: string): void {
    this.update(alert, { status, reason });
    this.deps.log({ alert_id: alert.id, run_id: alert.run_id, status, reason }, 'alert finished');
  }

  private note(alert: Alert, text: string): void {
    alert.notes.push({ at: new Date().toISOString(), text });
    this.deps.store.save(alert);
  }

  private update(alert: Alert, fields: Partial<Alert>): void {
    Object.assign(alert, fields);
    for (const k of Object.keys(fields) as (keyof Alert)[]) if (fields[k] === undefined) delete alert[k];
    this.deps.store.save(alert);
  }
}
