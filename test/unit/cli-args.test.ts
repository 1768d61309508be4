import { describe, expect, it } from 'vitest';
import { intFlag, parseArgs } from '../../cli/args';
import { BadInputError } from '../../lib/core/errors';

const cmd = {
  name: 'demo',
  flags: [
    { name: 'events', value: 'N', description: 'events' },
    { name: 'force', description: 'force' },
  ],
};

describe('parseArgs', () => {
  it('parses values, = values, booleans and positionals', () => {
    const a = parseArgs(['x', '--events', '10', '--force', '--', '--y'], cmd);
    expect(a.flags).toEqual({ events: '10', force: true });
    expect(a.positionals).toEqual(['x', '--y']);
    expect(parseArgs(['--events=5'], cmd).flags.events).toBe('5');
  });

  it('names an unknown option and where to look', () => {
    expect(() => parseArgs(['--evnts', '1'], cmd)).toThrow(
      /unknown option --evnts for `mlo demo`; see `mlo demo --help`/,
    );
  });

  it('refuses a missing value', () => {
    expect(() => parseArgs(['--events'], cmd)).toThrow(BadInputError);
    expect(() => parseArgs(['--events', '--force'], cmd)).toThrow(/--events needs a value/);
  });

  it('checks whole numbers and bounds, naming the flag and value', () => {
    expect(intFlag(parseArgs(['--events', '1_000'], cmd), 'events', 0)).toBe(1000);
    expect(() => intFlag(parseArgs(['--events', '1.5'], cmd), 'events', 0)).toThrow(
      /--events must be a whole number, got "1.5"/,
    );
    expect(() => intFlag(parseArgs(['--events', '5'], cmd), 'events', 0, { min: 10 })).toThrow(/at least 10, got 5/);
  });
});
