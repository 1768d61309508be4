import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../helpers/workflow-bundle';

describe('the workflow bundle of a test file', () => {
  it('is made once and shared by every caller', async () => {
    const first = workflowBundle();
    expect(workflowBundle()).toBe(first);
    const { code } = await first;
    expect(code).toContain('trainAndPromote');
    expect(code).toContain('promotion');
  }, 120_000);
});
