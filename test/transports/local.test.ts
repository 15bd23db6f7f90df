import { consumerBehaviour } from './consumer-suite.js';
import { producerBehaviour } from './producer-suite.js';
import { useTransportHarness } from './support/harness.js';

// The local queue: its tasks are its messages, in this file's test database.
const harness = useTransportHarness('local');
producerBehaviour(harness);
consumerBehaviour(harness);
