// Log lines for a person at a terminal: pino writes one JSON object a line,
// this turns each into `12:03:04.567 INFO  message  key=value ...`. A few
// lines of code instead of pino-pretty and its dependencies; machines (a
// launcher, a log shipper) get the JSON unchanged when stdout is not a terminal.
import { Writable } from 'node:stream';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** pino's own fields, shown in the line's head or not at all. */
const HEAD_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

export type LogFormat = 'pretty' | 'json';

/** `auto` is pretty on a terminal, JSON anywhere else. */
export function resolveLogFormat(asked: 'auto' | LogFormat, stdoutIsTerminal: boolean): LogFormat {
  if (asked !== 'auto') return asked;
  return stdoutIsTerminal ? 'pretty' : 'json';
}

/** One pino JSON line as text; a line that is not pino's JSON passes through as it is. */
export function prettyLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof entry !== 'object' || entry === null || typeof entry.level !== 'number') return line;
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 23) : '';
  const level = (LEVELS[entry.level] ?? String(entry.level)).padEnd(5);
  const fields = Object.entries(entry)
    .filter(([key]) => !HEAD_FIELDS.has(key))
    .map(([key, value]) => `${key}=${fieldText(value)}`);
  return [time, level, String(entry.msg ?? ''), ...fields].filter(Boolean).join(' ');
}

function fieldText(value: unknown): string {
  if (typeof value === 'string') return /\s/.test(value) || value === '' ? JSON.stringify(value) : value;
  return JSON.stringify(value) ?? String(value);
}

/** A stream for pino's `stream` option that writes pretty lines to `out`. */
export function prettyStream(out: NodeJS.WritableStream): Writable {
  let pending = '';
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line) out.write(`${prettyLine(line)}\n`);
      done();
    },
  });
}
