import type { IncomingMessage, ServerResponse } from 'node:http';
import { GeoError, InputError } from '../errors.js';
import { asConnectionLoss } from '../store/pool.js';

/** Every answer's headers: nothing cached, nothing framed, no content sniffing. */
const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
} as const;

/** The page loads only what the dashboard itself serves (no CDN, no inline script). */
export const PAGE_SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
} as const;

/** Removes secrets from text the dashboard sends (see secrets/redact.ts). */
export type Redact = (text: string) => string;

export function sendJson(res: ServerResponse, status: number, document: unknown, redact: Redact): void {
  const body = redact(JSON.stringify(document));
  res.writeHead(status, { ...COMMON_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendText(res: ServerResponse, status: number, body: string, contentType: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...COMMON_HEADERS, ...extra, 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** A status and nothing else: no body, no hint (a refused token, a foreign Host). */
export function sendBare(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...COMMON_HEADERS, ...headers, 'content-length': 0 });
  res.end();
}

export function commonHeaders(): Record<string, string> {
  return { ...COMMON_HEADERS };
}

/** The HTTP status of an error: its kind, refined by a few codes. */
export function httpStatusOf(err: unknown): number {
  if (!(err instanceof GeoError)) return 500;
  if (err.code === 'METHOD_NOT_ALLOWED') return 405;
  if (err.code.endsWith('NOT_FOUND') || err.code === 'ACTION_NOT_AVAILABLE') return 404;
  if (err.kind === 'input') return 400;
  if (err.kind === 'dependency') return 503;
  return 500;
}

/** An error as the API's error document (the shape of `geo --json` errors), secrets removed. */
export function sendError(res: ServerResponse, err: unknown, redact: Redact): void {
  const error = asConnectionLoss(err) ?? err;
  const code = error instanceof GeoError ? error.code : 'INTERNAL';
  const message = error instanceof GeoError ? error.message : 'internal error (the dashboard log has the details)';
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, httpStatusOf(error), { error: { code, message } }, redact);
}

/** Reads a small request body (actions take a few bytes of JSON). */
export async function readJsonBody(req: IncomingMessage, maxBytes = 16_384): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new InputError('INVALID_QUERY', `the request body is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new InputError('INVALID_QUERY', 'the request body is not JSON');
  }
}
