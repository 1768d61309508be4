import { afterEach, describe, expect, it, vi } from 'vitest';
import { runMain } from '../../scripts/bench/lib/main';

describe('bench runMain', () => {
  afterEach(() => {
    process.exitCode = undefined;
    vi.restoreAllMocks();
  });

  it('exits with what main resolves to', async () => {
    await runMain(() => Promise.resolve(3));
    expect(process.exitCode).toBe(3);
  });

  it('prints the stack of a throw and exits 1', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const boom = new Error('boom');
    await runMain(() => Promise.reject(boom));
    expect(process.exitCode).toBe(1);
    expect(err).toHaveBeenCalledWith(boom.stack);
  });

  it('prints a thrown non-Error as text', async () => {
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    await runMain(async () => {
      throw 'gone'; // eslint-disable-line @typescript-eslint/only-throw-error -- what a library may throw
    });
    expect(err).toHaveBeenCalledWith('gone');
    expect(process.exitCode).toBe(1);
  });
});
