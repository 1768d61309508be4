/**
 * The CPU pool: one Temporal worker per kind of work, each on its own task queue with a fixed
 * number of slots (MLO_SLOTS_*; defaults for a 2-core host): feature partitions, evaluation and
 * shadow scoring, CPU training, and the queue `mlo-cpu` for registry calls, audit records, specs
 * and whatever older runs queued there. Every worker registers every CPU activity, so a task
 * on any of these queues runs; the queue decides only whose slots it takes.
 */
import { buildDeps, createCpuActivities } from '../activities';
import type { Config } from '../lib/infra/config';
import { sweepAbandonedScratch } from '../lib/trainer/scratch';
import { main, type PoolDefinition, type PoolWorker } from './run';

export function cpuWorkers(cfg: Config, activities: object): PoolWorker[] {
  const q = cfg.taskQueues;
  const kinds: [string, number, string][] = [
    [q.cpu, cfg.slots.cpu, 'registry calls, audit records, specs'],
    [q.features, cfg.slots.features, 'feature partitions'],
    [q.evaluation, cfg.slots.evaluation, 'evaluation and shadow scoring'],
    [q.cpuTraining, cfg.slots.cpuTraining, 'CPU training'],
  ];
  return kinds.map(([taskQueue, slots, what]) => ({
    taskQueue,
    serves: `${what}, ${slots} slot(s)`,
    options: { activities, maxConcurrentActivityTaskExecutions: slots },
  }));
}

const cpuPool: PoolDefinition = {
  pool: 'cpu',
  workers: async (cfg, logger) => {
    // CPU trainers leave scratch directories too, when their worker is killed.
    const swept = await sweepAbandonedScratch();
    if (swept.length > 0) logger.info(`removed ${swept.length} scratch dir(s) of dead workers`);
    return cpuWorkers(cfg, createCpuActivities(buildDeps(cfg)));
  },
};

if (require.main === module) main(cpuPool);
