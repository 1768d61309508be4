import { afterEach, describe, expect, it } from 'vitest';
import { takeTemporalFlags } from '../../cli/index';
import { loadConfig } from '../../lib/infra/config';
import { setTemporalFlags } from '../../lib/infra/temporal-config';

afterEach(() => setTemporalFlags({}));

describe('the Temporal connection flags of every mlo command', () => {
  it('are taken out of argv, before or after the command, with a value or =value', () => {
    expect(
      takeTemporalFlags(['--temporal-profile', 'prod', 'list', '--pending', '--temporal-namespace=ml-prod', '--json']),
    ).toEqual({ rest: ['list', '--pending', '--json'], flags: { profile: 'prod', namespace: 'ml-prod' } });
    expect(takeTemporalFlags(['status', 'm', '--temporal-address', 'temporal.example.com:7233'])).toEqual({
      rest: ['status', 'm'],
      flags: { address: 'temporal.example.com:7233' },
    });
  });

  it('a flag without a value is an error with an example', () => {
    expect(takeTemporalFlags(['list', '--temporal-address']).error).toBe(
      '--temporal-address needs a value, e.g. --temporal-address temporal.example.com:7233',
    );
    expect(takeTemporalFlags(['--temporal-namespace', '--json']).error).toMatch(/--temporal-namespace needs a value/);
  });

  it('once set, they win over the environment in every later loadConfig', () => {
    setTemporalFlags({ address: 'flag.example.com:7233' });
    const t = loadConfig({ HOME: '/nonexistent', MLO_TEMPORAL_ADDRESS: 'env.example.com:7233' }).temporal;
    expect(t.address).toBe('flag.example.com:7233');
    expect(t.sources.address).toBe('flag');
    expect(t.tls).toBe(true);
  });
});
