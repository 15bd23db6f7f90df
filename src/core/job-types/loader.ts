import { statSync } from 'node:fs';
import { register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { InputError } from '../../errors.js';
import { isDefinedJobType } from './define.js';
import type { JobType } from './job-type.js';
import { BUILT_IN, findJobType, type RegisteredJobType, registerJobTypes } from './registry.js';

export interface JobTypeModules {
  /** Paths as the user gave them, relative to `cwd`. */
  paths: string[];
  /** Where the list came from, named in messages: `--job-types` or `GEO_JOB_TYPES`. */
  from: string;
  cwd: string;
}

let hookRegistered = false;
const loadedLists: JobTypeModules[] = [];

/** The module lists this process loaded, for a worker thread to load the same job types. */
export function loadedJobTypeModules(): JobTypeModules[] {
  return [...loadedLists];
}

/**
 * Imports job-type modules and registers what they export (each export
 * made by defineJobType, or an array of them), all or nothing. Failures are
 * one-line InputErrors (exit 2): a module that is missing or throws while
 * loading, one that exports no job type, and a name defined twice (in one
 * module, across modules, or clashing with a built-in job type).
 */
export async function loadJobTypeModules(modules: JobTypeModules): Promise<RegisteredJobType[]> {
  if (modules.paths.length === 0) return [];
  registerResolveHook();
  const loaded: RegisteredJobType[] = [];
  const seen = new Set<string>();
  for (const given of modules.paths) {
    const file = path.resolve(modules.cwd, given);
    if (seen.has(file)) continue;
    seen.add(file);
    const label = `${modules.from} ${given}`;
    for (const jobType of await importJobTypes(file, label)) {
      const clash = loaded.find((l) => l.jobType.name === jobType.name && l.jobType !== jobType) ?? findJobType(jobType.name);
      if (clash && clash.jobType !== jobType) {
        const where = clash.origin === BUILT_IN ? 'is a built-in job type' : `is already defined by ${clash.origin}`;
        throw new InputError('JOB_TYPE_DUPLICATE', `${label}: job type "${jobType.name}" ${where}; rename one of them`);
      }
      if (!loaded.some((l) => l.jobType === jobType)) loaded.push({ jobType, origin: given });
    }
  }
  registerJobTypes(loaded);
  loadedLists.push(modules);
  return loaded;
}

async function importJobTypes(file: string, label: string): Promise<JobType[]> {
  const kind = fileKind(file);
  if (kind !== 'file') throw new InputError('JOB_TYPES_LOAD_FAILED', `${label}: ${kind}`);
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // A module's error may span lines (a syntax error shows the source line); the first one says what happened.
    throw new InputError('JOB_TYPES_LOAD_FAILED', `${label}: failed to load: ${message.split('\n')[0]}`, { cause: err });
  }
  const found: JobType[] = [];
  for (const value of Object.values(namespace)) {
    for (const candidate of Array.isArray(value) ? value : [value]) {
      if (isDefinedJobType(candidate) && !found.includes(candidate)) found.push(candidate as unknown as JobType);
    }
  }
  if (found.length === 0) {
    throw new InputError(
      'JOB_TYPES_EMPTY',
      `${label}: exports no job type (export what defineJobType from "geo/job-types" returns; exports found: ${Object.keys(namespace).join(', ') || 'none'})`,
    );
  }
  const names = new Set<string>();
  for (const jobType of found) {
    if (names.has(jobType.name)) throw new InputError('JOB_TYPE_DUPLICATE', `${label}: job type "${jobType.name}" is defined twice in this module`);
    names.add(jobType.name);
  }
  return found;
}

function fileKind(file: string): string {
  try {
    const stat = statSync(file);
    return stat.isFile() ? 'file' : 'is not a file';
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? String(err)})`;
  }
}

/** Lets modules outside geo's own folder import 'geo/job-types' (see resolve-hook.ts). */
function registerResolveHook(): void {
  if (hookRegistered) return;
  hookRegistered = true;
  register(new URL('./resolve-hook.js', import.meta.url), {
    data: { publicEntry: new URL('./public.js', import.meta.url).href },
  });
}
