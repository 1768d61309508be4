import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  backfillWorkflowId,
  featuresWorkflowId,
  isScheduledRunId,
  modelOfScheduleId,
  modelOfWorkflowId,
  parseWorkflowId,
  promotionWorkflowId,
  retrainScheduleId,
  rollbackWorkflowId,
  runWorkflowId,
  scheduledRunWorkflowId,
} from '../../lib/core/ids';
import type { TrainAndPromoteWorkflow } from '../../lib/core/definitions';
import type { trainAndPromote } from '../../workflows/trainAndPromote';

describe('workflow ids', () => {
  it('builds every id mlo makes', () => {
    expect(runWorkflowId('fraud-detector', '2026-03-15')).toBe('train-and-promote/fraud-detector/2026-03-15');
    expect(runWorkflowId('fraud-detector', '2026-03-15', '2026-01-01')).toBe(
      'train-and-promote/fraud-detector/2026-01-01..2026-03-15',
    );
    expect(scheduledRunWorkflowId('m1')).toBe('train-and-promote/m1/scheduled');
    expect(featuresWorkflowId('train-and-promote/m1/2026-03-15')).toBe('train-and-promote/m1/2026-03-15/features');
    expect(promotionWorkflowId('m1')).toBe('promotion/m1');
    expect(rollbackWorkflowId('m1')).toBe('rollback/m1');
    expect(backfillWorkflowId('m1', '2026-01-01', '2026-02-01')).toBe('backfill/m1/2026-01-01..2026-02-01');
    expect(retrainScheduleId('m1')).toBe('mlo-retrain/m1');
  });

  it('parses what it builds', () => {
    expect(parseWorkflowId(runWorkflowId('fraud-detector', '2026-03-15', '2026-01-01'))).toEqual({
      kind: 'train-and-promote',
      model: 'fraud-detector',
      rest: '2026-01-01..2026-03-15',
      features: false,
    });
    expect(parseWorkflowId(featuresWorkflowId(runWorkflowId('m1', '2026-03-15')))).toEqual({
      kind: 'train-and-promote',
      model: 'm1',
      rest: '2026-03-15',
      features: true,
    });
    expect(parseWorkflowId(promotionWorkflowId('m1'))).toEqual({ kind: 'promotion', model: 'm1', features: false });
    expect(parseWorkflowId(rollbackWorkflowId('m1'))?.kind).toBe('rollback');
    expect(parseWorkflowId(backfillWorkflowId('m1', '2026-01-01', '2026-02-01'))?.rest).toBe('2026-01-01..2026-02-01');
    expect(modelOfScheduleId(retrainScheduleId('fraud-baseline'))).toBe('fraud-baseline');
    expect(isScheduledRunId(`${scheduledRunWorkflowId('m1')}-2026-03-15T03:00:00Z`)).toBe(true);
    expect(isScheduledRunId(runWorkflowId('m1', '2026-03-15'))).toBe(false);
  });

  it('refuses ids mlo does not make', () => {
    for (const id of [
      'promotion/m1/extra',
      'rollback/',
      'train-and-promote/m1',
      'train-and-promote/Bad_Name/2026-01-01',
      'other/m1/x',
      'promotion',
      'promotion/m1/features',
    ])
      expect(parseWorkflowId(id), id).toBeUndefined();
    expect(modelOfWorkflowId('deploy/m1')).toBeUndefined();
    expect(modelOfScheduleId('mlo-retrain/Bad Name')).toBeUndefined();
    expect(modelOfScheduleId('other/m1')).toBeUndefined();
  });

  it('types clients by the workflow contract, not by workflow code', () => {
    expectTypeOf<typeof trainAndPromote>().toEqualTypeOf<TrainAndPromoteWorkflow>();
  });
});
