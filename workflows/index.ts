export { trainAndPromote } from './trainAndPromote';
export { featureBackfill } from './featureBackfill';
export { promotion } from './promotion';
export { rollback } from './rollback';
export { championMove } from './champion-move';
