// How events' fields read in the transcript: text as lines, short titles,
// durations and sizes.

export function textLines(text: string): string[] {
  return text.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
}

export function firstWords(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** A tool call's title: the tool and what it acts on (its command, or the main one of its arguments). */
export function toolTitle(tool: string, command: string | undefined, args: unknown): string {
  if (command) return `${tool || 'shell'}: ${firstWords(command)}`;
  if (args && typeof args === 'object') {
    const a = args as Record<string, unknown>;
    const main = a.command ?? a.file_path ?? a.path ?? a.pattern ?? a.query;
    if (typeof main === 'string') return `${tool}: ${firstWords(main)}`;
  }
  return tool || 'tool';
}

/** A file change's letter, as git status writes it. */
export function changeLetter(kind: string): string {
  return kind === 'add' ? 'A' : kind === 'delete' ? 'D' : 'M';
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
