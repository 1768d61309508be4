import { ApplicationFailure, isCancellation, log, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import { FailureType } from '../lib/core/failure-types';
import { SA } from '../lib/core/search-attributes';
import { STAGES, progressQuery, type StageName, type StagePhase, type StageProgress } from '../lib/core/definitions';
import { rootCause } from '../lib/core/causes';
import { recordStage } from './metrics';

/**
 * The stages of one trainAndPromote run as the `progress` query shows them: each starts pending,
 * then runs (the `MloStage` search attribute names it) and succeeds or fails, or is skipped.
 * Construct it first thing in the workflow: it registers the query.
 */
export class StageTracker {
  readonly list: StageProgress[] = STAGES.map((stage) => ({ stage, status: 'pending' }));

  constructor() {
    setHandler(progressQuery, () => this.list);
  }

  /**
   * Runs one stage. A failure is rethrown as a non-retryable StageFailed naming the stage and
   * its innermost cause; a cancellation is rethrown as it is.
   */
  async run<T>(name: StageName, fn: () => Promise<T>): Promise<T> {
    const s = this.find(name);
    s.status = 'running';
    s.startedAt = new Date().toISOString();
    upsertSearchAttributes([{ key: SA.stage, value: name }]);
    try {
      const out = await fn();
      s.status = 'succeeded';
      return out;
    } catch (err) {
      s.status = 'failed';
      if (isCancellation(err)) throw err;
      throw this.failure(s, err);
    } finally {
      s.endedAt = new Date().toISOString();
      recordStage(name, s.status === 'succeeded' ? 'succeeded' : 'failed', s.startedAt);
    }
  }

  /** What a running stage waits on, with a message for people. */
  waiting(name: StageName, phase: StagePhase, message: string): void {
    Object.assign(this.find(name), { phase, message });
  }

  /** A note on a stage for people (e.g. that training reused an identical version). */
  note(name: StageName, message: string): void {
    this.find(name).message = message;
  }

  skip(name: StageName, message: string): void {
    Object.assign(this.find(name), { status: 'skipped', message });
  }

  private find(name: StageName): StageProgress {
    const s = this.list.find((x) => x.stage === name);
    if (!s) throw ApplicationFailure.nonRetryable(`unknown stage ${name}`, FailureType.StageFailed);
    return s;
  }

  private failure(s: StageProgress, err: unknown): ApplicationFailure {
    const inner = rootCause(err);
    s.message = inner.message;
    log.warn('stage failed', { stage: s.stage, error: inner.message });
    return ApplicationFailure.create({
      type: FailureType.StageFailed,
      message: `stage ${s.stage} failed: ${inner.message}`,
      nonRetryable: true,
      cause: err instanceof Error ? err : undefined,
      details: [{ stage: s.stage, type: (inner as { type?: string }).type }],
    });
  }
}
