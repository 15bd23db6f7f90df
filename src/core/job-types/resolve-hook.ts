/**
 * A module resolution hook (node:module register) that lets a job-type
 * module anywhere on disk import 'geo/job-types' from the running geo, so a
 * user's jobs.mjs needs no installation of its own and shares geo's zod.
 */
interface ResolveContext {
  parentURL?: string;
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<{ url: string }>;

let publicEntry = '';

export async function initialize(data: { publicEntry: string }): Promise<void> {
  publicEntry = data.publicEntry;
}

export async function resolve(specifier: string, context: ResolveContext, next: NextResolve): Promise<{ url: string; shortCircuit?: boolean }> {
  if (specifier === 'geo/job-types') return { url: publicEntry, shortCircuit: true };
  return next(specifier, context);
}
