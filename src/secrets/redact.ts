/** What a removed secret is replaced with, everywhere geo prints a message. */
export const REDACTED = '[redacted]';

/**
 * Fields whose value is a secret wherever they appear: connection-string keys,
 * SAS signatures, URL query credentials. Covers text an SDK built itself,
 * which may hold a secret geo never saw in that exact form.
 */
const SECRET_FIELDS = /\b(sig|AccountKey|SharedAccessKey|SharedAccessSignature|password)=([^&;\s"']+)/gi;

/**
 * Returns a function that removes every given secret from a text, and the
 * value of any secret-shaped field (see SECRET_FIELDS). Empty and undefined
 * entries are ignored, so callers can pass optional fields as they are.
 */
export function redactor(secrets: Iterable<string | undefined>): (text: string) => string {
  // Longest first: a secret that contains another must be removed whole.
  const known = [...new Set([...secrets].filter((s): s is string => s !== undefined && s.length > 0))].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const secret of known) out = out.split(secret).join(REDACTED);
    return out.replace(SECRET_FIELDS, `$1=${REDACTED}`);
  };
}

/** One-off form of `redactor`. */
export function redact(text: string, secrets: Iterable<string | undefined>): string {
  return redactor(secrets)(text);
}

/** The secrets a URL carries: its password (as written and decoded) and a SAS query string. */
export function urlSecrets(url: string): string[] {
  try {
    const parsed = new URL(url);
    const secrets = [parsed.password, safeDecode(parsed.password)];
    const sig = parsed.searchParams.get('sig');
    // The whole query of a SAS URL is the credential; the signature alone is the secret part.
    if (sig) secrets.push(sig, encodeURIComponent(sig), parsed.search.slice(1));
    return secrets.filter((s) => s.length > 0);
  } catch {
    return [];
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
