import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/infra/config';
import { stackProcessEnv, writeStackTemporalProfile } from '../../lib/stack/stack';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'mlo-stack-profile-'));
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

describe("the dev stack's Temporal profile", () => {
  it("is written into the stack directory (never the user's ~/.config) and reads back as the stack", () => {
    const dir = path.join(home, 'stack');
    expect(stackProcessEnv({ dir }, {})).toEqual({ AWS_EC2_METADATA_DISABLED: 'true' });
    const file = writeStackTemporalProfile({ dir, temporalPort: 27233 });
    expect(file).toBe(path.join(dir, 'temporal.toml'));
    expect(fs.existsSync(path.join(home, '.config'))).toBe(false);
    const env = stackProcessEnv({ dir }, { HOME: home });
    expect(env).toEqual({ TEMPORAL_CONFIG_FILE: file, AWS_EC2_METADATA_DISABLED: 'true' });
    const t = loadConfig({ HOME: home, ...env }).temporal;
    expect(t).toMatchObject({ address: '127.0.0.1:27233', namespace: 'default', tls: false });
    expect(t.sources.address).toBe(`profile default (${file})`);
    // written again only when it changes
    const before = fs.statSync(file).mtimeMs;
    writeStackTemporalProfile({ dir, temporalPort: 27233 });
    expect(fs.statSync(file).mtimeMs).toBe(before);
  });

  it("a configuration file the caller names is kept for the stack's processes", () => {
    expect(stackProcessEnv({ dir: home }, { TEMPORAL_CONFIG_FILE: '/etc/mlo/temporal.toml' })).toEqual({
      TEMPORAL_CONFIG_FILE: '/etc/mlo/temporal.toml',
      AWS_EC2_METADATA_DISABLED: 'true',
    });
  });
});
