export { trainAndPromote } from './trainAndPromote';
export { featureBackfill } from './featureBackfill';
