// Claims-based security: validates SAS tokens sent to $cbs and remembers,
// per connection, which entities they authorise.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Message } from 'rhea';
import { appProperty, type Reply } from './requests.js';

export interface SasCredentials {
  keyName: string;
  key: string;
}

const SAS_TOKEN_TYPE = 'servicebus.windows.net:sastoken';

/** sb://host:port/queue/$management -> 'queue/$management' (entity names are case-insensitive). */
export function entityPath(audienceOrAddress: string): string {
  return audienceOrAddress
    .replace(/^[a-z]+:\/\/[^/]*/i, '')
    .replace(/^\/+|\/+$/g, '')
    .toLowerCase();
}

function parseToken(token: string): Map<string, string> | undefined {
  const prefix = 'SharedAccessSignature ';
  if (!token.startsWith(prefix)) return undefined;
  const fields = new Map<string, string>();
  for (const part of token.slice(prefix.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return fields;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * The SDK signs `${sr}\n${se}` (sr as URL-encoded in the token) with the key
 * string itself as the HMAC-SHA256 key; the signature is base64 then URL-encoded.
 * Returns the reason the token is refused, or undefined when it is valid.
 */
export function checkSasToken(token: unknown, audience: string, creds: SasCredentials, nowMs: number): string | undefined {
  if (typeof token !== 'string') return 'token is not a string';
  const fields = parseToken(token);
  const sr = fields?.get('sr');
  const sig = fields?.get('sig');
  const se = fields?.get('se');
  const skn = fields?.get('skn');
  if (!sr || !sig || !se || !skn) return 'malformed SharedAccessSignature';
  if (safeDecode(skn) !== creds.keyName) return `unknown key name '${safeDecode(skn)}'`;
  const expected = Buffer.from(createHmac('sha256', creds.key).update(`${sr}\n${se}`).digest('base64'));
  const actual = Buffer.from(safeDecode(sig));
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return 'signature does not match';
  if (!(Number(se) * 1000 > nowMs)) return 'token expired';
  const scope = entityPath(safeDecode(sr));
  const target = entityPath(audience);
  if (scope !== '' && target !== scope && !target.startsWith(`${scope}/`)) return `token for '${scope}' does not cover '${target}'`;
  return undefined;
}

/** Entities a connection has put valid tokens for. */
export class Claims {
  private readonly granted = new Set<string>();

  covers(entity: string): boolean {
    const path = entityPath(entity);
    if (this.granted.has('') || this.granted.has(path)) return true;
    for (const g of this.granted) if (path.startsWith(`${g}/`)) return true;
    return false;
  }

  handle(request: Message, creds: SasCredentials, log: (msg: string) => void): Reply {
    const operation = appProperty(request, 'operation');
    if (operation !== 'put-token') {
      return { status: 501, description: `$cbs operation '${String(operation)}' is not implemented by the test peer.` };
    }
    const audience = appProperty(request, 'name');
    const type = appProperty(request, 'type');
    if (typeof audience !== 'string') return { status: 400, description: 'put-token without a name (audience).' };
    if (type !== SAS_TOKEN_TYPE) {
      return { status: 401, description: `token type '${String(type)}' is not supported; the test peer accepts SAS tokens only.` };
    }
    const refusal = checkSasToken(request.body, audience, creds, Date.now());
    if (refusal) {
      log(`cbs: put-token for ${audience} refused: ${refusal}`);
      return { status: 401, description: `InvalidSignature: ${refusal}` };
    }
    this.granted.add(entityPath(audience));
    return { status: 200, description: 'OK' };
  }
}
