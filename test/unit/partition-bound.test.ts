/** The bound on what one feature partition reads (MLO_PARTITION_MAX_BYTES). */
import { describe, expect, it } from 'vitest';
import { checkPartitionReadSize } from '../../activities/features';
import { DEFAULT_PARTITION_MAX_BYTES, loadConfig } from '../../lib/infra/config';
import { BadInputError } from '../../lib/core/errors';

const MiB = 1024 ** 2;
const file = (key: string, size: number) => ({ key, etag: `"${key}"`, size });
const src = {
  target: [file('raw/day=2026-03-10/a.arrow', 300 * MiB)],
  lookback: [
    { day: '2026-03-09', files: [file('raw/day=2026-03-09/a.arrow', 300 * MiB)] },
    { day: '2026-03-08', files: [file('raw/day=2026-03-08/a.arrow', 300 * MiB)] },
  ],
  labels: [['2026-03-10', [file('labels/day=2026-03-10/a.arrow', 100 * MiB)]]] as [string, ReturnType<typeof file>[]][],
};

describe('checkPartitionReadSize', () => {
  it('lets a partition within the bound read', () => {
    expect(() => checkPartitionReadSize('2026-03-10', src, 1000 * MiB)).not.toThrow();
  });

  it('refuses one over it as bad input, naming each part, the bound and the fix', () => {
    let err: unknown;
    try {
      checkPartitionReadSize('2026-03-10', src, 999 * MiB);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BadInputError);
    expect((err as Error).message).toBe(
      'the feature partition of 2026-03-10 would read 1000.0 MiB of raw data (the day 300.0 MiB, ' +
        '2 lookback day(s) 600.0 MiB, 1 label day(s) 100.0 MiB), over the bound of 999.0 MiB ' +
        '(MLO_PARTITION_MAX_BYTES). Raise MLO_PARTITION_MAX_BYTES on feature workers with the memory for it, ' +
        "or shorten the spec's longest window or label maturity.",
    );
  });
});

describe('MLO_PARTITION_MAX_BYTES', () => {
  it('defaults to 2 GiB and takes a whole number of bytes of at least 1 MiB', () => {
    expect(loadConfig({}).partitionMaxBytes).toBe(DEFAULT_PARTITION_MAX_BYTES);
    expect(loadConfig({ MLO_PARTITION_MAX_BYTES: String(512 * MiB) }).partitionMaxBytes).toBe(512 * MiB);
    expect(() => loadConfig({ MLO_PARTITION_MAX_BYTES: '1000' })).toThrow(/MLO_PARTITION_MAX_BYTES must be at least/);
  });
});
