import type { StartSpan, WorkEvents } from '../core/events.js';

type Hook = (...args: never[]) => void;

/**
 * One set of hooks from several observers (metrics, log, traces). A hook
 * that only one observer has is passed on as it is, and one that none has
 * stays absent, so combining adds no call where nobody listens. Spans come
 * from the first observer that starts them.
 */
export function combineEvents(...parts: Array<WorkEvents | undefined>): WorkEvents {
  const present = parts.filter((p): p is WorkEvents => p !== undefined);
  const combined: Record<string, unknown> = {};
  const keys = new Set(present.flatMap((p) => Object.keys(p))) as Set<keyof WorkEvents>;
  for (const key of keys) {
    if (key === 'startSpan') {
      combined.startSpan = present.find((p) => p.startSpan)?.startSpan satisfies StartSpan | undefined;
      continue;
    }
    const hooks = present.map((p) => p[key] as Hook | undefined).filter((h): h is Hook => h !== undefined);
    combined[key] =
      hooks.length === 1
        ? hooks[0]
        : (...args: never[]) => {
            for (const hook of hooks) hook(...args);
          };
  }
  return combined as WorkEvents;
}
