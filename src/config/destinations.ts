import { InputError } from '../errors.js';
import type { TransportName } from '../transports/names.js';

/**
 * Where a job's messages go, recorded with the job (jobs.destination) so that
 * one retry-pending can recover jobs spread over several queues, namespaces
 * or accounts. Never holds a credential. Each transport's kind names and
 * reaches its destinations (`destination`, `configFor`).
 */
export interface Destination {
  transport: TransportName;
  /** Service Bus namespace host or storage account name; absent for local. */
  host?: string;
  queue?: string;
}

/** A destination as people name it: `servicebus myns.servicebus.windows.net/geo-tasks`. */
export function describeDestination(d: Destination): string {
  return d.host ? `${d.transport} ${d.host}/${d.queue ?? ''}` : d.transport;
}

/** DESTINATION_NOT_CONFIGURED for `destination`; `remedy` says which variables would reach it. */
export function destinationNotConfigured(destination: Destination, remedy: string): InputError {
  return new InputError('DESTINATION_NOT_CONFIGURED', `no credentials configured for ${describeDestination(destination)}: ${remedy}`);
}

/** Host names compare without case. */
export function sameHost(a: string | undefined, b: string): boolean {
  return a !== undefined && a.toLowerCase() === b.toLowerCase();
}
