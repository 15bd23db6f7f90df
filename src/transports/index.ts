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
    default:
      void config;
      throw new InputError('TRANSPORT_UNAVAILABLE', `the ${name} transport is not available in this build`);
  }
}
