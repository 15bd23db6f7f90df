import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';

/** The cookie a browser keeps after opening the dashboard with `?token=`. */
export const SESSION_COOKIE = 'geo_dashboard';

/** Whether an address to bind is loopback only (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost') return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  if (net.isIPv6(bare)) return bare === '::1' || /^::ffff:127\./.test(bare);
  return false;
}

export type AuthVerdict =
  /** Let it through. */
  | { ok: true; setCookie?: string }
  /** 401 and nothing else. */
  | { ok: false };

/**
 * Checks every request against GEO_DASHBOARD_TOKEN when one is set: an
 * `Authorization: Bearer` header (scripts, Prometheus), the session cookie
 * (the page, EventSource), or `?token=` (the first visit, which then gets the
 * cookie). The cookie holds an HMAC of the token, not the token. Comparisons
 * take the same time whatever matched.
 */
export function tokenAuth(token: string | undefined): (req: IncomingMessage, url: URL) => AuthVerdict {
  if (token === undefined) return () => ({ ok: true });
  const expected = digest(token);
  const session = crypto.createHmac('sha256', token).update('geo dashboard session').digest('hex');
  const sessionDigest = digest(session);
  return (req, url) => {
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
    if (bearer !== undefined && same(digest(bearer), expected)) return { ok: true };
    const cookie = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (cookie !== undefined && same(digest(cookie), sessionDigest)) return { ok: true };
    const query = url.searchParams.get('token');
    if (query !== null && same(digest(query), expected)) {
      return { ok: true, setCookie: `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/` };
    }
    return { ok: false };
  };
}

function digest(text: string): Buffer {
  return crypto.createHash('sha256').update(text).digest();
}

function same(a: Buffer, b: Buffer): boolean {
  return crypto.timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * On loopback without a token, only requests addressed to a loopback name
 * are served: a web page that rebinds its own host name to 127.0.0.1 (DNS
 * rebinding) sends its own name as Host and is refused.
 */
export function hostAllowed(req: IncomingMessage): boolean {
  const host = req.headers.host;
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return isLoopbackHost(name);
}

/**
 * A state-changing request (an action) must come from the dashboard's own
 * page: JSON (a cross-site form cannot send it without a preflight, which
 * the dashboard never grants) and, when the browser says where it comes
 * from, from this origin.
 */
export function sameOriginWrite(req: IncomingMessage): boolean {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
