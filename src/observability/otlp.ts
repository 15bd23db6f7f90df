import { type Attributes, DiagLogLevel, diag, ROOT_CONTEXT, type Span, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { sleep } from '../concurrency/backoff.js';
import type { SpanAttributes, TraceSpan } from '../core/events.js';
import type { Tracing } from './tracing.js';

/** How long the last spans may take to reach the collector when geo ends. */
const SHUTDOWN_TIMEOUT_MS = 5_000;

/**
 * OpenTelemetry's trace SDK exporting over OTLP/HTTP (JSON): the exporter
 * reads the standard variables itself (OTEL_EXPORTER_OTLP_ENDPOINT, which
 * gets /v1/traces appended, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is;
 * _HEADERS, _TIMEOUT, _COMPRESSION), and the resource OTEL_SERVICE_NAME and
 * OTEL_RESOURCE_ATTRIBUTES (service.name is geo otherwise). Spans go out in
 * batches from a BatchSpanProcessor, off the path of the work. Only
 * tracing.ts imports this module, and only when an endpoint is set.
 */
export function startOtlpTracing(params: { serviceVersion: string; redact: (text: string) => string; onExportError: (message: string) => void }): Tracing {
  const { redact } = params;
  let told = false;
  // The SDK reports export failures through its diagnostic logger (silent by default).
  diag.setLogger(
    {
      error: (message: string, ...args: unknown[]) => {
        if (told) return;
        told = true;
        params.onExportError(`traces could not be exported (later failures are not told): ${[message, ...args.map(describe)].join(' ')}`);
      },
      warn: () => undefined,
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: DiagLogLevel.ERROR, suppressOverrideMessage: true },
  );
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'geo', 'service.version': params.serviceVersion }))
    .merge(detectResources({ detectors: [envDetector] }));
  // A span per task: a queue deep enough for a few seconds of a fast worker before spans are dropped.
  const processor = new BatchSpanProcessor({ exporter: new OTLPTraceExporter(), maxQueueSize: 16_384, maxExportBatchSize: 1_024 });
  const provider = new TracerProvider({ resource, spanProcessors: [processor] });
  const tracer = provider.getTracer('geo', params.serviceVersion);
  const spans = new WeakMap<TraceSpan, Span>();

  return {
    startSpan(name, attributes, parent) {
      const parentSpan = parent && spans.get(parent);
      const span = tracer.startSpan(name, { attributes: defined(attributes) }, parentSpan ? trace.setSpan(ROOT_CONTEXT, parentSpan) : ROOT_CONTEXT);
      const handle: TraceSpan = {
        end(error, more) {
          if (more) span.setAttributes(defined(more));
          // Attributes are ids, names and counts; an error's text is a handler's or a broker's, and may quote a secret.
          if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: redact(error) });
          span.end();
        },
      };
      spans.set(handle, span);
      return handle;
    },
    async shutdown(timeoutMs = SHUTDOWN_TIMEOUT_MS) {
      const settled = new AbortController();
      try {
        await Promise.race([
          provider.shutdown().catch((err: unknown) => params.onExportError(`traces could not be exported: ${describe(err)}`)),
          sleep(timeoutMs, settled.signal),
        ]);
      } finally {
        settled.abort();
        diag.disable();
      }
    },
  };
}

function defined(attributes: SpanAttributes): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) if (value !== undefined) out[key] = value;
  return out;
}

function describe(value: unknown): string {
  if (value instanceof Error) return value.message;
  return typeof value === 'string' ? value : JSON.stringify(value);
}
