import { type Dashboard, type DashboardOptions, startDashboard } from '../../src/dashboard/server.js';
import type { Pool } from '../../src/store/pool.js';
import { waitFor } from '../support/wait.js';

/** A dashboard on a free loopback port over a test database, read-only unless told otherwise. */
export async function startTestDashboard(db: Pool, options: Partial<DashboardOptions> = {}): Promise<Dashboard> {
  return startDashboard({
    db,
    host: '127.0.0.1',
    port: 0,
    allowActions: false,
    actions: {},
    secrets: [],
    version: 'test',
    onNotice: () => undefined,
    ...options,
  });
}

export async function getJson<T = Record<string, unknown>>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

export interface ServerEvent {
  event: string;
  data: Record<string, unknown>;
  /** When it arrived (Date.now()). */
  at: number;
}

/**
 * Follows an event stream and collects its events; `next(predicate)` waits
 * for the first event (already received or still to come) that matches.
 */
export async function followEvents(url: string, init: RequestInit = {}) {
  const controller = new AbortController();
  const res = await fetch(url, { ...init, signal: controller.signal });
  if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
  const events: ServerEvent[] = [];
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event) events.push({ event, data: data ? JSON.parse(data) : {}, at: Date.now() });
        }
      }
    } catch {
      // Aborted by close().
    }
  })();
  return {
    events,
    headers: res.headers,
    next(match: (e: ServerEvent) => boolean, timeoutMs = 5_000): Promise<ServerEvent> {
      return waitFor(
        () => `a matching event within ${timeoutMs} ms; got ${JSON.stringify(events)}`,
        () => events.find(match),
        { timeoutMs, intervalMs: 10 },
      );
    },
    close: () => controller.abort(),
  };
}
