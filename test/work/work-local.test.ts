import { workBehaviour } from './work-suite.js';

workBehaviour('local');
