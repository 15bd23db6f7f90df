import type { GeoConfig, TransportName } from '../config/index.js';
import { createLocalTransport } from './local.js';
import type { Transport } from './transport.js';

export type { Transport, SendReport } from './transport.js';

/** Builds the transport `name` from configuration. One per process; close it when done. */
export async function createTransport(name: TransportName, config: GeoConfig): Promise<Transport> {
  switch (name) {
    case 'local':
      return createLocalTransport();
    case 'storage-queue': {
      // Loaded on demand: the Azure SDK costs every other command ~0.3 s of start-up.
      const { createStorageQueueTransport } = await import('./storage-queue.js');
      return createStorageQueueTransport(config.storage);
    }
    case 'servicebus': {
      const { createServiceBusTransport } = await import('./servicebus.js');
      return createServiceBusTransport(config.servicebus);
    }
  }
}
