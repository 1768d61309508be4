/**
 * A worker process for the worker-shutdown test: mlo's worker bootstrap (workers/run.ts: its
 * connection, shutdown grace and signals) serving the activities of ./shutdown-activities.ts on
 * the task queue MLO_TEST_QUEUE.
 */
import { main } from '../../workers/run';
import { shutdownActivities } from './shutdown-activities';

const taskQueue = process.env.MLO_TEST_QUEUE;
if (!taskQueue) throw new Error('set MLO_TEST_QUEUE');
main({
  pool: 'test',
  workers: async () => [{ taskQueue, options: { activities: shutdownActivities } }],
});
