import type { GeoConfig, TransportName } from '../config/index.js';
import { InputError } from '../errors.js';
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
    default:
      void config;
      throw new InputError('TRANSPORT_UNAVAILABLE', `the ${name} transport is not available in this build`);
  }
}
