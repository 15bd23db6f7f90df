import { InputError } from '../errors.js';
import type { TransportKind } from './kind.js';

/**
 * The local queue: the tasks table itself. A task row written `queued` is its
 * message, so it has no broker, no queue of its own, no options and no
 * credentials; its limit is geo's own bound on one task row's parameters.
 */
export const localKind: TransportKind<'local'> = {
  name: 'local',
  title: 'the local queue',
  maxMessageBytes: 1024 * 1024,
  encodedBytes: (jsonBytes) => jsonBytes,
  tasksAreMessages: true,
  options: [],
  destination: () => ({ transport: 'local' }),
  configFor: (_destination, config) => config,
  async openProducer() {
    const { createLocalProducer } = await import('./local.js');
    return createLocalProducer();
  },
  async openConsumer(_config, options) {
    if (!options.db) throw new InputError('CONFIG_INVALID', 'the local transport consumes from the database: open the store first');
    const { createLocalConsumer } = await import('./local.js');
    return createLocalConsumer(options.db, options);
  },
};
