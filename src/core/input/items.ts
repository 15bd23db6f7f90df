import { InputError } from '../../errors.js';
import type { JobType } from '../job-types/job-type.js';
import type { StageItems } from '../job-types/stage-inputs.js';
import type { MessageLimit } from './limits.js';
import { readLines } from './lines.js';
import { ItemDecoder } from './records.js';
import { maxLineBytes, type InputScan } from './scan.js';
import type { InputSource } from './source.js';

/**
 * Pass two: the accepted items again, in order, streamed into the stage's
 * task builder as dispatch consumes them. Lines the first pass rejected are
 * skipped by number; a line that decodes differently now means the input
 * changed between the passes, which stops the submit (run it again: the job
 * id follows the content).
 */
export function inputItems(params: { source: InputSource; jobType: JobType; scan: InputScan; limit: MessageLimit }): StageItems {
  const { source, jobType, scan } = params;
  return {
    count: scan.items,
    async *items() {
      const decoder = new ItemDecoder(jobType.name, jobType.items as never, source.format, source.label, () => 'too long');
      const rejected = scan.rejectedLines.cursor();
      let accepted = 0;
      for await (const lines of readLines(source.read(), { maxLineBytes: maxLineBytes(params.limit) })) {
        for (const line of lines) {
          if (rejected.has(line.number)) continue;
          const decoded = decoder.decode(line);
          if ('header' in decoded || 'blank' in decoded) continue;
          if ('error' in decoded || ++accepted > scan.items) throw changed(source.label, line.number);
          yield decoded.item;
        }
      }
      if (accepted !== scan.items) throw changed(source.label, scan.lines);
    },
  };
}

function changed(label: string, line: number): InputError {
  return new InputError('INPUT_CHANGED', `${label} changed while it was being submitted (at line ${line}); run the same submit again`);
}
