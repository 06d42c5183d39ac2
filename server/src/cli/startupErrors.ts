// Why a server did not start, as one line a person can act on, and the exit
// code a launcher can act on: 2 for a usage error (a flag, a variable or a
// config.json value it cannot take), 75 for a data folder another server
// holds (ServerExit), 1 for anything else. The line keeps the prefix the
// extension's launcher looks for (whyItFailed).
import { ZodError } from 'zod';
import { ServerExit } from '@astraforge/contract/serverReady';

/** The command line or a setting is wrong: the user fixes it and starts again. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** What to do about it. */
    readonly hint = 'see --help',
  ) {
    super(message);
  }
}

export const EXIT_FAILURE = 1;
/** As for most programs' usage errors (bash's builtins, getopt's users). */
export const EXIT_USAGE = 2;

export interface StartupFailure {
  line: string;
  exitCode: number;
}

/** What a listen on host:port failed with, in the user's terms (undefined for other errors). */
export function listenFailure(e: unknown, host: string, port: number): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const where = `port ${port} on ${host}`;
  if (code === 'EADDRINUSE')
    return `${where} is in use by another program; stop it or start with --port <another port> (0 picks a free one)`;
  if (code === 'EACCES') return `not allowed to listen on ${where}; use a port above 1023 or start as a user that may`;
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return `cannot listen on ${host}: no such address on this machine; check --host`;
  return undefined;
}

export function startupFailure(e: unknown, dataDirInUse: (e: unknown) => boolean): StartupFailure {
  if (e instanceof UsageError) return failed(`${e.message}; ${e.hint}`, EXIT_USAGE);
  if (e instanceof ZodError) return failed(`${configProblem(e)}; fix the flag, the variable or config.json in the data folder`, EXIT_USAGE);
  if (dataDirInUse(e)) return failed((e as Error).message, ServerExit.dataDirInUse);
  const message = e instanceof Error ? e.message : String(e);
  return failed(message.split('\n')[0] ?? 'unknown error', EXIT_FAILURE);
}

function failed(reason: string, exitCode: number): StartupFailure {
  return { line: `astraforge server failed to start: ${reason}\n`, exitCode };
}

/** The first of the config's problems, named by its path (limits.memoryBytes), with how many more there are. */
function configProblem(e: ZodError): string {
  const [first, ...rest] = e.issues;
  if (!first) return 'the config is not valid';
  const where = first.path.length ? first.path.join('.') : 'the config';
  const more = rest.length ? ` (and ${rest.length} more)` : '';
  return `invalid setting ${where}: ${first.message}${more}`;
}
