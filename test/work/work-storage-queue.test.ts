import { workBehaviour } from './work-suite.js';

workBehaviour('storage-queue');
