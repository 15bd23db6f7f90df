import type { Command } from 'commander';
import { describeJobType } from '../../core/job-types/describe.js';
import { listJobTypes } from '../../core/job-types/registry.js';
import type { GlobalOptions } from '../context.js';
import { Output } from '../output.js';
import { renderJobTypes } from '../render/types.js';

export function registerTypes(program: Command, globals: () => GlobalOptions): void {
  program
    .command('types')
    .description('list the job types geo knows (built in, and from --job-types / GEO_JOB_TYPES), with their parameters and items')
    .action(() => {
      const output = new Output(globals().json ?? false);
      const jobTypes = listJobTypes().map(describeJobType);
      if (output.jsonMode) output.json({ jobTypes });
      else renderJobTypes(output, jobTypes);
    });
}
