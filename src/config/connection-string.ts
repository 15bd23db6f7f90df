/**
 * Azure connection strings: `Key=Value;...` pairs, keys matched without
 * regard to case; values (base64 keys, SAS tokens) may contain `=`.
 */
export function connectionStringFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return fields;
}
