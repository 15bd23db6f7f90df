import { controlBehaviour } from './control-suite.js';

// Azurite's in-memory queue slows with its length (test/work/work-storage-queue.test.ts): smaller runs here.
controlBehaviour('storage-queue', { cancelTasks: 1_000, pauseTasks: 300, prunedJobTasks: 10 });
