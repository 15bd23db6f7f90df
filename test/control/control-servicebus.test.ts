import { controlBehaviour } from './control-suite.js';

// The 100,000-task cancel runs by hand: GEO_CONTROL_CANCEL_TASKS=100000 npx vitest run test/control/control-servicebus.test.ts
controlBehaviour('servicebus', { cancelTasks: 5_000, pauseTasks: 1_000, prunedJobTasks: 20 });
