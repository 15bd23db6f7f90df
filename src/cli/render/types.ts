import type { FieldDescription, JobTypeDescription } from '../../core/job-types/describe.js';
import type { Output } from '../output.js';

/** `geo types` for people: each job type, its parameters, its items and its stages. */
export function renderJobTypes(output: Output, jobTypes: JobTypeDescription[]): void {
  for (const [i, type] of jobTypes.entries()) {
    if (i > 0) output.line();
    output.line(`${type.name}${type.origin === 'built in' ? '' : `  (from ${type.origin})`}`);
    if (type.description) output.line(`  ${type.description}`);
    output.line(type.parameters.length > 0 ? '  parameters (--param name=value):' : '  parameters: none');
    for (const line of fieldLines(type.parameters)) output.line(line);
    if (type.items) {
      const from = type.items.fromParams ? '--input FILE (NDJSON or CSV), or from the parameters' : '--input FILE (NDJSON or CSV)';
      output.line(`  items (${from}):`);
      for (const line of fieldLines(type.items.fields)) output.line(line);
    }
    output.line('  stages:');
    for (const stage of type.stages) {
      const from = stage.from === 'results' ? `from the results of stage ${stage.inputStage}` : `from ${stage.from}`;
      const taskType = stage.taskType === stage.name ? '' : `, task type ${stage.taskType}`;
      const retry = `${stage.retry.maxRetries} retr${stage.retry.maxRetries === 1 ? 'y' : 'ies'}`;
      output.line(`    ${stage.stage} ${stage.name} (${from}${taskType}; ${retry}${stage.acceptPartial ? ', partial success accepted' : ''})`);
    }
  }
}

function fieldLines(fields: FieldDescription[]): string[] {
  const nameWidth = Math.max(0, ...fields.map((f) => f.name.length));
  const typeWidth = Math.max(0, ...fields.map((f) => f.type.length));
  return fields.map((f) => {
    const notes = [
      f.required ? 'required' : f.default !== undefined ? `default ${JSON.stringify(f.default)}` : 'optional',
      f.constraints,
      f.description,
    ].filter(Boolean);
    return `    ${f.name.padEnd(nameWidth)}  ${f.type.padEnd(typeWidth)}  ${notes.join('; ')}`;
  });
}
