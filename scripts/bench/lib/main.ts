/**
 * Runs a benchmark's (or the runner's) `main`: what it resolves to is the exit code; a throw
 * prints its stack and exits 1. Sets `process.exitCode`, so pending output is flushed.
 */
export function runMain(main: () => Promise<number>): Promise<void> {
  return main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
      process.exitCode = 1;
    },
  );
}
