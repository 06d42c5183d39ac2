// Waiting for a condition instead of sleeping a fixed time: the tests, the
// extension-host suites and the benchmarks poll with this one function.

export interface UntilOptions {
  /** Gives up after this long (default 30 s). */
  timeoutMs?: number;
  /** Time between two probes (default 100 ms). */
  intervalMs?: number;
}

/**
 * Calls `probe` until it returns a value (anything but undefined, null or
 * false: 0 and '' count) and returns that value;
 * throws "timed out waiting for <what>" once `timeoutMs` has passed (`what`
 * may be a function, to say what the last probe saw).
 */
export async function until<T>(
  what: string | (() => string),
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: UntilOptions = {},
): Promise<T> {
  const end = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}
