// Turns a run's task into the agent's first prompt. A spec is passed on as
// written; an error becomes a brief: the error itself, the source around
// each frame that points into the workspace, the user's context, and how to
// go about the fix.
import type { RunTask } from '@astraforge/contract/runApi';
import { findSourceLocations, resolveInWorkspace, type WorkspaceLocation } from './stackFrames';

export interface WorkspaceReader {
  /** Every file of the workspace, relative to its root. */
  files(): readonly string[];
  /** A file's text, or undefined when it cannot be read as text. */
  read(path: string): Promise<string | undefined>;
}

const MAX_FRAMES = 8;
const LINES_AROUND = 6;
const MAX_ERROR_CHARS = 40_000;
const MAX_TERMINAL_CHARS = 20_000;

const SPEC_PREAMBLE =
  "You are working in a copy of the user's project at /workspace, inside a sandbox. Make the change the task asks for, run the project's relevant checks or tests, and finish with a short summary of what you changed.";

const ERROR_STEPS = [
  'Reproduce it first: find the command that shows this error (the failing test, the build, the program) and run it.',
  "Find the root cause and fix it with the smallest change that keeps the code's intent. Do not hide the symptom (no blanket try/catch, no skipped or weakened tests).",
  'Run the reproduction and the relevant tests again to confirm the fix; add a regression test where the project has tests.',
  'Finish with a short summary: what was wrong, what you changed, and how you verified it.',
];

export async function buildTaskPrompt(task: RunTask, workspace: WorkspaceReader): Promise<string> {
  if (task.kind === 'spec') return `${SPEC_PREAMBLE}\n\n## Task\n${task.prompt}\n`;
  return buildErrorPrompt(task, workspace);
}

export async function buildErrorPrompt(task: RunTask, workspace: WorkspaceReader): Promise<string> {
  const ctx = task.context ?? {};
  const out: string[] = [
    "You are working in a copy of the user's project at /workspace, inside a sandbox. The user hit the error below; fix it.",
    '',
    '## Error',
    fence(tail(task.prompt, MAX_ERROR_CHARS)),
  ];
  if (ctx.file) {
    const range = ctx.range ? `, lines ${ctx.range.start_line + 1}-${ctx.range.end_line + 1}` : '';
    out.push('', `It was reported in \`${ctx.file}\`${range}.`);
  }
  if (ctx.diagnostics?.length) out.push('', '## Diagnostics', ...ctx.diagnostics.map((d) => `- ${d}`));

  const files = workspace.files();
  const locations = findSourceLocations([task.prompt, ...(ctx.diagnostics ?? []), ctx.terminal_output ?? ''].join('\n'))
    .map((loc) => resolveInWorkspace(loc, files))
    .filter((loc): loc is WorkspaceLocation => loc !== undefined)
    .slice(0, MAX_FRAMES);
  if (ctx.file && ctx.range && files.includes(ctx.file))
    locations.unshift({ rawPath: ctx.file, path: ctx.file, line: ctx.range.start_line + 1 });
  const excerpts = await sourceExcerpts(dedupe(locations), workspace);
  if (excerpts.length) out.push('', '## Where it points (the source as it is in /workspace)', ...excerpts);

  if (ctx.terminal_output) out.push('', '## Terminal output', fence(tail(ctx.terminal_output, MAX_TERMINAL_CHARS)));
  out.push('', '## What to do', ...ERROR_STEPS.map((s, i) => `${i + 1}. ${s}`), '');
  return out.join('\n');
}

async function sourceExcerpts(locations: WorkspaceLocation[], workspace: WorkspaceReader): Promise<string[]> {
  const out: string[] = [];
  const cache = new Map<string, string[] | undefined>();
  for (const loc of locations) {
    if (!cache.has(loc.path)) cache.set(loc.path, (await workspace.read(loc.path))?.split(/\r?\n/));
    const lines = cache.get(loc.path);
    if (!lines || loc.line < 1 || loc.line > lines.length) continue;
    const from = Math.max(1, loc.line - LINES_AROUND);
    const to = Math.min(lines.length, loc.line + LINES_AROUND);
    const width = String(to).length;
    const body: string[] = [];
    for (let n = from; n <= to; n++) body.push(`${n === loc.line ? '>' : ' '} ${String(n).padStart(width)} | ${lines[n - 1]}`);
    out.push('', `### ${loc.path}:${loc.line}${loc.column ? `:${loc.column}` : ''}`, fence(body.join('\n')));
  }
  return out;
}

function dedupe(locations: WorkspaceLocation[]): WorkspaceLocation[] {
  const seen = new Set<string>();
  return locations.filter((l) => {
    const key = `${l.path}:${l.line}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The end of a long text is where the error usually is. */
function tail(text: string, max: number): string {
  return text.length <= max ? text : `[... ${text.length - max} earlier characters left out ...]\n${text.slice(-max)}`;
}

/** A code fence longer than any backtick run inside, so the text cannot close it. */
function fence(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = '`'.repeat(longest + 1);
  return `${ticks}\n${text}\n${ticks}`;
}
