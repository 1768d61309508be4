export { trainAndPromote } from './trainAndPromote';
