import type { GeoConfig, TransportName } from '../config/index.js';
import { InputError } from '../errors.js';
import type { Queryable } from '../store/pool.js';
import { createLocalConsumer, createLocalProducer } from './local.js';
import type { ConsumerOptions, TransportConsumer, TransportProducer } from './transport.js';

export type { ConsumerOptions, ReceivedMessage, SendReport, TransportConsumer, TransportProducer } from './transport.js';

/** Opens the producer half of transport `name`. One per process; close it when done. */
export async function createProducer(name: TransportName, config: GeoConfig): Promise<TransportProducer> {
  switch (name) {
    case 'local':
      return createLocalProducer();
    case 'storage-queue': {
      // Loaded on demand: the Azure SDK costs every other command ~0.3 s of start-up.
      const { createStorageQueueProducer } = await import('./storage-queue.js');
      return createStorageQueueProducer(config.storage);
    }
    case 'servicebus': {
      const { createServiceBusProducer } = await import('./servicebus.js');
      return createServiceBusProducer(config.servicebus);
    }
  }
}

/**
 * Opens the consumer half of transport `name`, checking the queue and the
 * credentials first. The local transport's queue is the database, so it
 * needs `db`.
 */
export async function createConsumer(
  name: TransportName,
  config: GeoConfig,
  options: ConsumerOptions & { db?: Queryable },
): Promise<TransportConsumer> {
  switch (name) {
    case 'local':
      if (!options.db) throw new InputError('CONFIG_INVALID', 'the local transport consumes from the database: open the store first');
      return createLocalConsumer(options.db, options);
    case 'storage-queue': {
      const { createStorageQueueConsumer } = await import('./storage-queue-consumer.js');
      return createStorageQueueConsumer(config.storage, options);
    }
    case 'servicebus': {
      const { createServiceBusConsumer } = await import('./servicebus-consumer.js');
      return createServiceBusConsumer(config.servicebus);
    }
  }
}
