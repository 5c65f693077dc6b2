export {
  assignImages,
  loadRunModel,
  type AssignInput,
  type AssignOutcome,
  type Assigned,
  type AssignRejected,
  type RunModel,
} from './assign.js';
export { assignObjects, RunModelCache, summarise } from './objects.js';
