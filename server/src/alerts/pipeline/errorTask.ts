// The run task an alert becomes: an error task whose text is the error as a
// stack trace the prompt builder reads (frames as `at fn (file:line:col)`,
// which it maps onto the repository's files and shows the source around),
// followed by what the tracker knew: the request, the breadcrumbs, the tags.
import type { ErrorReport } from '@astraforge/contract/alertsApi';
import type { RunTask } from '@astraforge/contract/runApi';

const MAX_PROMPT_CHARS = 150_000;

export function errorTaskFor(
  alert: { source: string; issue_id: string; occurrences: number; error?: ErrorReport; title: string },
  command?: string,
): RunTask {
  const report = alert.error;
  const lines: string[] = [
    `${alert.title}`,
    `Reported by ${alert.source === 'sentry' ? 'Sentry' : 'GlitchTip'} (issue ${alert.issue_id}), seen ${alert.occurrences} time(s) since this fix was requested.`,
  ];
  if (report) {
    for (const e of report.exceptions) lines.push(`${e.type ?? 'Error'}: ${e.value ?? ''}`);
    if (report.frames.length) {
      lines.push('', "Stack trace, innermost call first, the application's own frames before library frames:");
      for (const f of report.frames) {
        const where = `${f.file}${f.line !== undefined ? `:${f.line}${f.column !== undefined ? `:${f.column}` : ''}` : ''}`;
        lines.push(`    at ${f.function ?? '<anonymous>'} (${where})${f.in_app ? '' : ' [library]'}`);
        if (f.context_line) lines.push(`        > ${f.context_line.trim()}`);
      }
    } else {
      lines.push('', 'The tracker sent no stack trace for this error.');
    }
    if (report.culprit) lines.push('', `Culprit: ${report.culprit}`);
    if (report.release) lines.push(`Release: ${report.release}`);
    if (report.environment) lines.push(`Environment: ${report.environment}`);
    if (report.request) {
      const r = report.request;
      lines.push('', `Request: ${r.method ?? ''} ${r.url ?? ''}${r.query ? `?${r.query}` : ''}`.trimEnd());
      for (const [k, v] of Object.entries(r.headers)) lines.push(`  ${k}: ${v}`);
    }
    if (report.breadcrumbs.length) {
      lines.push('', 'Breadcrumbs before the error, oldest first:');
      for (const b of report.breadcrumbs) {
        const data = b.data ? ` ${JSON.stringify(b.data).slice(0, 300)}` : '';
        lines.push(`  ${b.timestamp ?? ''} [${b.category ?? b.level ?? 'log'}] ${b.message ?? ''}${data}`.trimEnd());
      }
    }
    const tags = Object.entries(report.tags);
    if (tags.length) lines.push('', `Tags: ${tags.map(([k, v]) => `${k}=${v}`).join(', ')}`);
    if (report.link) lines.push('', `Issue: ${report.link}`);
  }
  lines.push(
    '',
    'Fix it in this repository: reproduce it first with a test (or the smallest script) that fails the way production did, make the smallest fix, and run the tests.',
  );
  const prompt = lines.join('\n').slice(0, MAX_PROMPT_CHARS);
  return command ? { kind: 'error', prompt, command } : { kind: 'error', prompt };
}
