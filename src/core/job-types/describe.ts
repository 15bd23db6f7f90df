import { z } from 'zod';
import { type RetryPolicy, retryPolicyOf } from './job-type.js';
import type { RegisteredJobType } from './registry.js';

/** One parameter or item field, as `geo types` shows it. */
export interface FieldDescription {
  name: string;
  /** integer, number, string, boolean, array, object, one of ..., or any. */
  type: string;
  required: boolean;
  default?: unknown;
  /** Ranges and lengths: `0..24`, `>= 1`, `not empty`. */
  constraints?: string;
  description?: string;
}

export interface JobTypeDescription {
  name: string;
  description: string;
  origin: string;
  parameters: FieldDescription[];
  /** Present when stage 1 takes items (`--input`). */
  items?: { fields: FieldDescription[]; fromParams: boolean };
  stages: Array<{
    stage: number;
    name: string;
    taskType: string;
    from: 'params' | 'items' | 'results' | 'custom';
    inputStage?: number;
    retry: RetryPolicy;
    acceptPartial: boolean;
  }>;
}

/** What a job type takes, derived from its zod schemas (their JSON Schema input side). */
export function describeJobType({ jobType, origin }: RegisteredJobType): JobTypeDescription {
  return {
    name: jobType.name,
    description: jobType.description,
    origin,
    parameters: fieldsOf(jobType.params),
    items: jobType.items ? { fields: fieldsOf(jobType.items.schema), fromParams: jobType.items.fromParams !== undefined } : undefined,
    stages: jobType.stages.map((s) => ({
      stage: s.stage,
      name: s.name,
      taskType: s.taskType,
      from: s.source ?? 'custom',
      inputStage: s.inputStage,
      retry: retryPolicyOf(s),
      acceptPartial: s.acceptPartial ?? false,
    })),
  };
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  anyOf?: JsonSchema[];
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
};

/** The fields of an object schema; a schema of another shape is one field named `(item)`. */
export function fieldsOf(schema: z.ZodType): FieldDescription[] {
  let json: JsonSchema;
  let output: JsonSchema | undefined;
  try {
    json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
    // A default on a preprocessed field (integer()) shows only on the output side.
    output = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
  } catch {
    return [{ name: '(item)', type: 'any', required: true }];
  }
  if (!json.properties) return [{ name: '(item)', ...field(json, true) }];
  const required = new Set(json.required ?? []);
  return Object.entries(json.properties).map(([name, property]) => {
    const withDefault = { ...property, default: property.default ?? output?.properties?.[name]?.default };
    return { name, ...field(withDefault, required.has(name) && withDefault.default === undefined) };
  });
}

/** The column names a CSV header must have for this item schema (undefined: not an object). */
export function columnsOf(schema: z.ZodType): { all: string[]; required: string[]; types: Record<string, string> } | undefined {
  const fields = fieldsOf(schema);
  if (fields.length === 1 && fields[0]!.name === '(item)') return undefined;
  return {
    all: fields.map((f) => f.name),
    required: fields.filter((f) => f.required).map((f) => f.name),
    types: Object.fromEntries(fields.map((f) => [f.name, f.type])),
  };
}

function field(json: JsonSchema, required: boolean): Omit<FieldDescription, 'name'> {
  return {
    type: typeOf(json),
    required,
    ...(json.default !== undefined ? { default: json.default } : {}),
    ...(constraintsOf(json) ? { constraints: constraintsOf(json) } : {}),
    ...(json.description ? { description: json.description } : {}),
  };
}

function typeOf(json: JsonSchema): string {
  if (json.enum) return `one of ${json.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if (typeof json.type === 'string') return json.type;
  if (Array.isArray(json.type)) return json.type.join(' or ');
  if (json.anyOf) return [...new Set(json.anyOf.map(typeOf))].join(' or ');
  return 'any';
}

function constraintsOf(json: JsonSchema): string | undefined {
  // zod puts the safe-integer range on every integer; it says nothing to a reader.
  const bound = (v: number | undefined) => (v === undefined || Math.abs(v) >= Number.MAX_SAFE_INTEGER ? undefined : v);
  const low = bound(json.minimum ?? json.exclusiveMinimum);
  const high = bound(json.maximum ?? json.exclusiveMaximum);
  const parts: string[] = [];
  if (low !== undefined && high !== undefined && json.exclusiveMinimum === undefined && json.exclusiveMaximum === undefined) {
    parts.push(`${fmt(low)}..${fmt(high)}`);
  } else {
    if (low !== undefined) parts.push(`${json.exclusiveMinimum !== undefined ? '>' : '>='} ${fmt(low)}`);
    if (high !== undefined) parts.push(`${json.exclusiveMaximum !== undefined ? '<' : '<='} ${fmt(high)}`);
  }
  if (json.minLength === 1) parts.push('not empty');
  else if (json.minLength !== undefined) parts.push(`at least ${json.minLength} characters`);
  if (json.maxLength !== undefined) parts.push(`at most ${json.maxLength} characters`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function fmt(value: number): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: 20 });
}
