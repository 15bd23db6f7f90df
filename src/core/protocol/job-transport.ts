import type { Destination } from '../../config/destinations.js';
import type { TransportName } from '../../config/index.js';
import type { JobRow } from '../../store/jobs.js';
import type { TransportProducer } from '../../transports/transport.js';

/** Where a job's messages go, as stored with the job (destination null: written before destinations were recorded). */
export interface SendTarget {
  transport: TransportName;
  destination: Destination | null;
}

/**
 * Opens (once per destination) the transport for a job's destination, with
 * credentials from configuration; throws DESTINATION_NOT_CONFIGURED when none
 * reach it. Supplied by the CLI, which owns configuration: the core sends a
 * job's batches (a later stage, a recovery) through it.
 */
export type TransportResolver = (target: SendTarget) => Promise<TransportProducer>;

/** Where this job's messages go. */
export function sendTargetOf(job: Pick<JobRow, 'processingPath' | 'destination'>): SendTarget {
  return { transport: job.processingPath as TransportName, destination: job.destination };
}
