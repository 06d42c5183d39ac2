// How a run reads in the sidebar: its title, status icon, age and usage.
// Pure functions, shared by the run list and the run header.
import { TERMINAL_STATUSES, type Run, type RunStatus } from '@astraforge/contract/runApi';
import { statusIcon as statusIconOf } from '@astraforge/contract/statusIcon';

export function isActive(status: RunStatus): boolean {
  return !TERMINAL_STATUSES.includes(status);
}

/** The status's codicon classes (the same icon the quick pick and status bar show). */
export function statusIcon(status: RunStatus): string {
  const icon = statusIconOf(status);
  return `codicon-${icon.name}${icon.spin ? ' codicon-modifier-spin' : ''}`;
}

/** The first line of the task, short enough for one row. */
export function runTitle(run: Pick<Run, 'id' | 'task' | 'source'>): string {
  // An alert's run is named by its issue: its prompt is the whole error report.
  const first = run.source?.title || (run.task.prompt.split('\n').find((l) => l.trim()) ?? run.task.command ?? run.id);
  const text = first.trim();
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

/** "just now", "5 min ago", "3 h ago", "2 d ago". */
export function age(iso: string, now: number): string {
  const s = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

export function tokens(n: number): string {
  return n < 1000 ? String(n) : n < 1_000_000 ? `${(n / 1000).toFixed(1)}k` : `${(n / 1_000_000).toFixed(2)}M`;
}

export function usageText(run: Pick<Run, 'usage'>): string | undefined {
  const u = run.usage;
  if (!u || u.total_tokens === 0) return undefined;
  return `${tokens(u.input_tokens)} in · ${tokens(u.output_tokens)} out`;
}

/** The badge of a run an error tracker's alert started ("Sentry", "GlitchTip"); undefined for the user's own runs. */
export function sourceBadge(run: Pick<Run, 'source'>): string | undefined {
  if (!run.source) return undefined;
  return run.source.kind === 'sentry' ? 'Sentry' : 'GlitchTip';
}
