import { controlBehaviour } from './control-suite.js';

// The 100,000-task cancel runs by hand: GEO_CONTROL_CANCEL_TASKS=100000 npx vitest run test/control/control-local.test.ts
controlBehaviour('local', { cancelTasks: 20_000, pauseTasks: 2_000, prunedJobTasks: 50 });
