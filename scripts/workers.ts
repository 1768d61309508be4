/** `npm run workers`: the three worker pools in one terminal, for local development. */
import { startWorkers } from '../lib/stack/worker-procs';

const workers = startWorkers({ onLine: (pool, line) => console.log(`${pool.padEnd(12)} ${line}`) });
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  console.log('stopping the workers…');
  workers.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
workers.ready.then(
  () => console.log('all three workers are polling; Ctrl-C stops them'),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    stop();
  },
);
