import { performance } from 'node:perf_hooks';
import type { Pool } from '../store/pool.js';
import type { TransportProducer } from '../transports/transport.js';

/** Called after each query with its text, values and start and end times (performance.now()). */
export type QueryObserver = (text: string, values: unknown[] | undefined, startedAt: number, endedAt: number) => void;

/**
 * Where a run's time went: the summed time of its database calls and of its
 * queue sends. With several batches in flight the sums overlap and can exceed
 * the run's wall time; their ratio still says which side the run waited on.
 */
export class CallClock {
  dbMs = 0;
  dbCalls = 0;
  queueMs = 0;
  queueCalls = 0;

  addDb(ms: number): void {
    this.dbMs += ms;
    this.dbCalls++;
  }

  addQueue(ms: number): void {
    this.queueMs += ms;
    this.queueCalls++;
  }
}

/**
 * The pool with every `query` timed into `clock`. Everything else (connect,
 * end, events) is the pool's own, so code that takes a Pool runs unchanged.
 */
export function timedPool(pool: Pool, clock: CallClock, observe?: QueryObserver): Pool {
  const query = (...args: unknown[]) => {
    const startedAt = performance.now();
    const pending = (pool.query as (...a: unknown[]) => unknown)(...args);
    // The callback form returns nothing to time; geo's store never uses it.
    if (typeof (pending as PromiseLike<unknown> | undefined)?.then !== 'function') return pending;
    return Promise.resolve(pending).finally(() => {
      const endedAt = performance.now();
      clock.addDb(endedAt - startedAt);
      const [first, second] = args;
      const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '');
      observe?.(text, Array.isArray(second) ? second : undefined, startedAt, endedAt);
    });
  };
  return new Proxy(pool, {
    get(target, property) {
      if (property === 'query') return query;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** The transport with every `send` timed into `clock`; otherwise the transport itself. */
export function timedTransport(transport: TransportProducer, clock: CallClock): TransportProducer {
  return {
    name: transport.name,
    writesWithTasks: transport.writesWithTasks,
    target: transport.target,
    async send(messages) {
      const startedAt = performance.now();
      try {
        return await transport.send(messages);
      } finally {
        clock.addQueue(performance.now() - startedAt);
      }
    },
    async schedule(messages, at) {
      const startedAt = performance.now();
      try {
        return await transport.schedule(messages, at);
      } finally {
        clock.addQueue(performance.now() - startedAt);
      }
    },
    close: () => transport.close(),
  };
}
