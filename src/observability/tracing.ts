import type { StartSpan } from '../core/events.js';

/** Tracing while it runs: the hook that starts spans, and the flush that sends the last ones. */
export interface Tracing {
  startSpan: StartSpan;
  /** Sends the spans not sent yet (waiting at most `timeoutMs`) and stops. */
  shutdown(timeoutMs?: number): Promise<void>;
}

/**
 * Starts OpenTelemetry tracing when an OTLP endpoint is configured
 * (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
 * Without one it returns undefined and nothing of OpenTelemetry is even
 * loaded: its SDK is imported here, on demand, and nowhere else, so a run
 * without tracing pays neither the import nor a call per task.
 */
export async function startTracing(params: {
  endpoint: string | undefined;
  serviceVersion: string;
  /** Removes secrets from span texts (an error message may quote a connection string). */
  redact: (text: string) => string;
  /** Told once when spans cannot be exported (the collector is down or refuses them). */
  onExportError: (message: string) => void;
}): Promise<Tracing | undefined> {
  if (!params.endpoint) return undefined;
  const { startOtlpTracing } = await import('./otlp.js');
  return startOtlpTracing(params);
}
