import { workBehaviour } from './work-suite.js';

// Azurite's in-memory queue slows with its length (about 7 deliveries/s with 4,000 messages
// waiting on this machine, against hundreds with 1,000): the eight-worker test uses 1,000 tasks here.
workBehaviour('storage-queue', { eightWorkerTasks: 1000 });
