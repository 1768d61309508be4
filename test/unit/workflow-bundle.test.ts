import { describe, expect, it } from 'vitest';
import { workflowBundle } from '../helpers/workflow-bundle';

describe('the workflow bundle of a test file', () => {
  it('is made once and shared by every caller', async () => {
    const first = workflowBundle();
    expect(workflowBundle()).toBe(first);
    const { code } = await first;
    expect(code).toContain('trainAndPromote');
    expect(code).toContain('promotion');
    // With the workers' interceptor module (the verified identity of decisions).
    expect(code).toContain('mlo-verified-identity');
  }, 120_000);
});
