/** Request paths stay inside the data folders: see io/paths.ts. */
export { confinedPath, realPathOf } from '../io/paths.ts';
