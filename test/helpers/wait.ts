/**
 * Polls `fn` until it returns something other than undefined. Errors count as "not yet"
 * unless `rethrow` is set (then the first error fails the wait).
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  opts: { rethrow?: boolean } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await (opts.rethrow ? fn() : fn().catch(() => undefined));
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
