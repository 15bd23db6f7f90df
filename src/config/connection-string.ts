import { urlSecrets } from '../secrets/redact.js';

/**
 * An Azure `Key=Value;...` connection string (Service Bus and Storage alike).
 * Keys are matched case-insensitively, as the SDKs do; values (base64 keys,
 * SAS tokens) may contain `=`. The one parser of connection strings in geo.
 */
export class ConnectionString {
  /** Keys in lower case. */
  readonly fields = new Map<string, string>();

  constructor(readonly text: string) {
    for (const part of text.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0) this.fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
    }
  }

  /** The value of `key`, or undefined when absent or empty. */
  get(key: string): string | undefined {
    const value = this.fields.get(key.toLowerCase());
    return value === undefined || value === '' ? undefined : value;
  }

  /** Every secret the string holds (keys, signatures, and any credentials inside its endpoint URLs), for redaction. */
  secrets(): string[] {
    const direct = ['AccountKey', 'SharedAccessKey', 'SharedAccessSignature'].map((k) => this.get(k));
    const inUrls = ['Endpoint', 'QueueEndpoint', 'BlobEndpoint'].flatMap((k) => {
      const url = this.get(k);
      return url ? urlSecrets(url) : [];
    });
    return [...direct, ...inUrls].filter((s): s is string => s !== undefined);
  }
}

/** Parses a connection string; see ConnectionString. */
export function parseConnectionString(text: string): ConnectionString {
  return new ConnectionString(text);
}

/** The fields of a connection string, keys in lower case. */
export function connectionStringFields(text: string): Map<string, string> {
  return new ConnectionString(text).fields;
}
