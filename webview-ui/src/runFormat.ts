// How a run reads in the sidebar: its title, status icon, age and usage.
// Pure functions, shared by the run list and the run header.
import { statusIcon as statusIconOf } from '../../src/runs/statusIcon';

export interface RunSummary {
  id: string;
  agent: string;
  status: string;
  created_at: string;
  finished_at?: string;
  error?: string;
  task: { kind: string; prompt: string; command?: string };
  usage?: { input_tokens: number; output_tokens: number; total_tokens: number };
}

const ACTIVE = new Set(['queued', 'provisioning', 'running']);

export function isActive(status: string): boolean {
  return ACTIVE.has(status);
}

/** The status's codicon classes (the same icon the quick pick and status bar show). */
export function statusIcon(status: string): string {
  const icon = statusIconOf(status);
  return `codicon-${icon.name}${icon.spin ? ' codicon-modifier-spin' : ''}`;
}

/** The first line of the task, short enough for one row. */
export function runTitle(run: RunSummary): string {
  const first = run.task.prompt.split('\n').find((l) => l.trim()) ?? run.task.command ?? run.id;
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

export function usageText(run: RunSummary): string | undefined {
  const u = run.usage;
  if (!u || u.total_tokens === 0) return undefined;
  return `${tokens(u.input_tokens)} in · ${tokens(u.output_tokens)} out`;
}
