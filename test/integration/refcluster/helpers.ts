// Shared by the reference-cluster integration tests (the scenario helpers live with the demo).
export { converged, killAfterCommit, sleep, until } from '../../../src/demo/scenarios.js';
