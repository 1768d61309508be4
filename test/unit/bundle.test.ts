import { describe, expect, it } from 'vitest';
import { WORKFLOWS_PATH } from '../../lib/infra/config';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';

describe('workflow bundle', () => {
  it('workflows/ bundles for the deterministic sandbox', async () => {
    const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
    expect(code.length).toBeGreaterThan(1000);
    expect(code).toContain('trainAndPromote');
  }, 120_000);
});
