import { workBehaviour } from './work-suite.js';

workBehaviour('servicebus');
