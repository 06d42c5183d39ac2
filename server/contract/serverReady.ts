// What a launcher (the extension, the tests) reads from a starting server:
// one JSON line on stdout once it listens, or, when it cannot start, an
// exit code that says why. The line's `msg` is fixed, so a launcher tells
// it from the server's other log lines without matching their text.
import { z } from 'zod';

export const SERVER_READY_MSG = 'astraforge server listening';

export const ServerReady = z.object({
  msg: z.literal(SERVER_READY_MSG),
  /** Where the API answers (loopback written as localhost). */
  url: z.url(),
  /** Where the API key was read from: 'env' or the key file's path; the key itself is never printed. */
  api_key_from: z.string(),
  data_dir: z.string(),
});
export type ServerReady = z.infer<typeof ServerReady>;

/** Exit codes a launcher acts on; any other non-zero code is a failure it reports. */
export const ServerExit = {
  /** Another live server holds the data folder (EX_TEMPFAIL): use another folder, or connect to that server. */
  dataDirInUse: 75,
} as const;

/** The ready line, newline included. */
export function formatReadyLine(ready: Omit<ServerReady, 'msg'>): string {
  return `${JSON.stringify(ServerReady.parse({ msg: SERVER_READY_MSG, ...ready }))}\n`;
}

/** The ready line's fields when `line` is that line; undefined for any other line. */
export function parseReadyLine(line: string): ServerReady | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const parsed = ServerReady.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** The ready line among a chunk of output (whole lines only); undefined until it has arrived. */
export function findReadyLine(output: string): ServerReady | undefined {
  const lines = output.split('\n');
  lines.pop(); // an unterminated last line may still be growing
  for (const line of lines) {
    const ready = parseReadyLine(line.trim());
    if (ready) return ready;
  }
  return undefined;
}
