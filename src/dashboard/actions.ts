import { InputError } from '../errors.js';

/** The actions the page can offer, in the order it shows them (issue 18's commands). */
export const ACTION_NAMES = ['pause', 'resume', 'retry-failed', 'cancel'] as const;
export type ActionName = (typeof ACTION_NAMES)[number];

export interface ActionRequest {
  jobId: string;
  /** Free text a person gave (cancel's --reason). */
  reason?: string;
}

/**
 * What the core offers to steer a job: one function per action, each doing
 * what its command does and returning that command's `--json` document. An
 * action the core does not have yet is left out; the dashboard then shows no
 * control for it and its route answers 404, even with --allow-actions.
 */
export type DashboardActions = Partial<Record<ActionName, (request: ActionRequest) => Promise<unknown>>>;

/** The actions a dashboard serves: none unless started with --allow-actions. */
export function availableActions(allowActions: boolean, actions: DashboardActions): ActionName[] {
  return allowActions ? ACTION_NAMES.filter((name) => actions[name] !== undefined) : [];
}

export function isActionName(name: string): name is ActionName {
  return (ACTION_NAMES as readonly string[]).includes(name);
}

/**
 * An action's body must confirm the job by its full id (`{"confirm": "<jobId>"}`):
 * the page sends it only after a person confirmed, and a script has to name
 * the job twice.
 */
export function parseActionBody(body: unknown, jobId: string): { reason?: string } {
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  if (record.confirm !== jobId) {
    throw new InputError('ACTION_NOT_CONFIRMED', 'an action must be confirmed: send {"confirm": "<the full job id>"}');
  }
  const reason = record.reason;
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > 1_000)) {
    throw new InputError('INVALID_QUERY', 'reason must be text of at most 1,000 characters');
  }
  return { reason: reason as string | undefined };
}
