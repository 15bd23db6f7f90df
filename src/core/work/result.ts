/**
 * The largest task result geo stores, as JSON text. PostgreSQL's jsonb holds
 * far more, but every result is read again to build the next stage and by
 * `geo results`; a result this large is better written elsewhere and
 * referenced (docs/job-types.md, "Results").
 */
export const MAX_RESULT_BYTES = 1024 * 1024;

/** A handler's result as jsonb text, or why it cannot be stored (a permanent failure of that task alone). */
export type EncodedResult = { json: string | null } | { error: string };

/**
 * Encodes a handler's result for the database. A result JSON cannot hold
 * (a BigInt, a function, a symbol, a number that is not finite, an object
 * that refers to itself) or that jsonb refuses (a NUL character, half of a
 * surrogate pair) is `RESULT_NOT_JSON`, naming the path of the bad value; one
 * over MAX_RESULT_BYTES is `RESULT_TOO_LARGE`. Values JSON drops (undefined
 * properties) are dropped, as JSON.stringify does. `undefined` is SQL NULL.
 */
export function encodeResult(value: unknown): EncodedResult {
  if (value === undefined) return { json: null };
  const problem = findProblem(value, 'result', new Set());
  if (problem) return { error: `RESULT_NOT_JSON: ${problem}` };
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    // A toJSON() that throws.
    return { error: `RESULT_NOT_JSON: result: ${err instanceof Error ? err.message : String(err)}` };
  }
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_RESULT_BYTES) {
    return {
      error: `RESULT_TOO_LARGE: the result is ${bytes.toLocaleString('en-US')} bytes of JSON; at most ${MAX_RESULT_BYTES.toLocaleString('en-US')} are stored`,
    };
  }
  return { json };
}

/** The first value under `path` that JSON or jsonb cannot hold, described; undefined when all is well. */
function findProblem(value: unknown, path: string, ancestors: Set<object>): string | undefined {
  switch (typeof value) {
    case 'bigint':
      return `${path} is a BigInt, which JSON cannot hold (return it as a string or a number)`;
    case 'function':
    case 'symbol':
      return `${path} is a ${typeof value}, which JSON cannot hold`;
    case 'number':
      return Number.isFinite(value) ? undefined : `${path} is ${String(value)}, which JSON cannot hold`;
    case 'string':
      return stringProblem(value, path);
    case 'object': {
      if (value === null) return undefined;
      if (ancestors.has(value)) return `${path} refers back to an object that contains it`;
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        // Dates and the like: what JSON.stringify would write is what must be checked.
        const replaced: unknown = (toJSON as () => unknown).call(value);
        return replaced === value ? undefined : findProblem(replaced, path, ancestors);
      }
      ancestors.add(value);
      try {
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length; i++) {
            const item: unknown = value[i];
            // JSON writes these as null inside an array.
            if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
            const problem = findProblem(item, `${path}[${i}]`, ancestors);
            if (problem) return problem;
          }
          return undefined;
        }
        for (const [key, item] of Object.entries(value)) {
          if (item === undefined) continue;
          const problem = stringProblem(key, `${path} key ${JSON.stringify(key)}`) ?? findProblem(item, `${path}.${key}`, ancestors);
          if (problem) return problem;
        }
        return undefined;
      } finally {
        ancestors.delete(value);
      }
    }
    default:
      return undefined;
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** jsonb refuses NUL and unpaired surrogates, which JSON.stringify lets through as escapes. */
function stringProblem(text: string, path: string): string | undefined {
  if (text.includes('\u0000')) return `${path} contains a NUL character (\\u0000), which PostgreSQL's jsonb cannot store`;
  if (LONE_SURROGATE.test(text)) return `${path} contains half of a UTF-16 surrogate pair, which PostgreSQL's jsonb cannot store`;
  return undefined;
}
