import { describeDestination } from '../../config/destinations.js';
import type { TransportName } from '../../config/index.js';
import { errorMessage, GeoError } from '../../errors.js';
import type { Pool } from '../../store/pool.js';
import { jobsRunningDestinations, recoveryTargets } from '../../store/recovery.js';
import type { TransportProducer } from '../../transports/transport.js';
import type { SendTarget, TransportResolver } from '../protocol/job-transport.js';

/** A job this run could not send for: its destination has no usable configuration. */
export interface UnreachableJob {
  jobId: string;
  destination: string;
  reason: string;
}

/** The transports a sweep sends through, opened once per destination. */
export interface OpenedDestinations {
  /** Resolves a job's destination to its (opened) transport; opens one that appeared since. */
  transportFor: TransportResolver;
  /** Every transport opened so far. */
  opened(): TransportProducer[];
  /** Jobs left alone because their destination is not configured here. */
  unreachable: UnreachableJob[];
}

/**
 * Opens the transport of every destination a sweep may send to, before
 * anything is claimed: one whose configuration is missing is reported by name
 * and its jobs are left alone; a broker that cannot be reached throws (the
 * run stops with nothing claimed, so the next run is not locked out).
 */
export async function openDestinations(
  db: Pool,
  transportFor: TransportResolver,
  filter: { jobId?: string; transport?: string; includeFailed: boolean },
): Promise<OpenedDestinations> {
  const opened = new Map<string, TransportProducer>();
  const unreachable: UnreachableJob[] = [];
  const failedKeys = new Set<string>();
  const keyOf = (t: SendTarget) => `${t.transport} ${JSON.stringify(t.destination)}`;
  const open = async (target: { jobId: string; transport: string; destination: SendTarget['destination'] }, report: boolean) => {
    const sendTarget = { transport: target.transport as TransportName, destination: target.destination };
    const key = keyOf(sendTarget);
    if (opened.has(key)) return;
    if (failedKeys.has(key) && !report) return;
    try {
      opened.set(key, await transportFor(sendTarget));
    } catch (err) {
      if (!(err instanceof GeoError) || err.kind !== 'input') throw err;
      failedKeys.add(key);
      if (report) unreachable.push({ jobId: target.jobId, destination: describe(sendTarget), reason: errorMessage(err) });
    }
  };
  // Jobs with work to send: each one whose destination is not configured is reported (and left alone).
  for (const target of await recoveryTargets(db, filter)) await open(target, true);
  // Running jobs' queues, for their dead letters: one this process cannot reach is another's to read.
  for (const target of await jobsRunningDestinations(db, { jobId: filter.jobId })) {
    if (!filter.transport || target.transport === filter.transport) await open(target, false);
  }
  return {
    unreachable,
    opened: () => [...opened.values()],
    async transportFor(target) {
      const transport = opened.get(keyOf(target));
      if (transport) return transport;
      // A job that appeared after the check (a new submit): opened now, still before its batches are claimed.
      const fresh = await transportFor(target);
      opened.set(keyOf(target), fresh);
      return fresh;
    },
  };
}

function describe(target: SendTarget): string {
  return target.destination ? describeDestination(target.destination) : target.transport;
}
