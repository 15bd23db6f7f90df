import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../../errors.js';

export const INPUT_FORMATS = ['ndjson', 'csv'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

const READ_CHUNK = 256 * 1024;

/**
 * An input that can be read from the start more than once: submitting a
 * file takes two passes (validate and hash, then build tasks), so standard
 * input is copied to a spool file during the first pass.
 */
export interface InputSource {
  /** The file as the user named it, `-` (shown as `stdin`) for standard input. */
  label: string;
  format: InputFormat;
  /** Reads the input from its first byte. */
  read(): AsyncIterable<Buffer>;
  /** Removes the spool file, if any. */
  close(): Promise<void>;
}

/**
 * Opens `given` (a path, or `-` for `stdin`), checking up front what would
 * otherwise fail mid-read: a missing file, a directory, no permission.
 */
export async function openInput(params: {
  given: string;
  format?: InputFormat;
  stdin: AsyncIterable<Buffer | string>;
  cwd: string;
  /** Where standard input is spooled; default: the system's temporary folder. */
  spoolDir?: string;
}): Promise<InputSource> {
  const format = params.format ?? formatOf(params.given);
  if (params.given === '-') return spooledStdin(params.stdin, format, params.spoolDir ?? os.tmpdir());
  const file = path.resolve(params.cwd, params.given);
  await checkReadable(file, params.given);
  return {
    label: params.given,
    format,
    read: () => readFile(file, params.given),
    close: async () => {},
  };
}

function formatOf(given: string): InputFormat {
  if (given === '-') return 'ndjson';
  const ext = path.extname(given).toLowerCase();
  if (ext === '.ndjson' || ext === '.jsonl') return 'ndjson';
  if (ext === '.csv') return 'csv';
  throw new InputError('INPUT_FORMAT_UNKNOWN', `cannot tell the format of ${given} from its name (.ndjson, .jsonl or .csv): give --format ndjson or --format csv`);
}

async function checkReadable(file: string, given: string): Promise<void> {
  try {
    const stat = await fs.stat(file);
    if (stat.isDirectory()) throw new InputError('INPUT_NOT_A_FILE', `input ${given} is a directory, not a file`);
    const handle = await fs.open(file, 'r');
    await handle.close();
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw inputFileError(err, given);
  }
}

function inputFileError(err: unknown, given: string): InputError {
  const code = (err as { code?: string }).code;
  if (code === 'ENOENT') return new InputError('INPUT_NOT_FOUND', `input file ${given} does not exist`, { cause: err });
  if (code === 'EACCES' || code === 'EPERM') return new InputError('INPUT_UNREADABLE', `input file ${given} cannot be read (permission denied)`, { cause: err });
  if (code === 'EISDIR') return new InputError('INPUT_NOT_A_FILE', `input ${given} is a directory, not a file`, { cause: err });
  return new InputError('INPUT_UNREADABLE', `input file ${given} cannot be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

async function* readFile(file: string, given: string): AsyncGenerator<Buffer> {
  try {
    yield* createReadStream(file, { highWaterMark: READ_CHUNK }) as AsyncIterable<Buffer>;
  } catch (err) {
    throw inputFileError(err, given);
  }
}

/** Standard input, copied to a spool file as the first pass reads it; later passes read the copy. */
async function spooledStdin(stdin: AsyncIterable<Buffer | string>, format: InputFormat, dir: string): Promise<InputSource> {
  const folder = await fs.mkdtemp(path.join(dir, 'geo-stdin-'));
  const spool = path.join(folder, 'input');
  let consumed = false;
  return {
    label: 'stdin',
    format,
    read() {
      if (!consumed) {
        consumed = true;
        return copyWhileReading(stdin, spool);
      }
      return readFile(spool, 'stdin (spooled copy)');
    },
    close: () => fs.rm(folder, { recursive: true, force: true }),
  };
}

async function* copyWhileReading(stdin: AsyncIterable<Buffer | string>, spool: string): AsyncGenerator<Buffer> {
  const handle = await fs.open(spool, 'w', 0o600);
  try {
    for await (const chunk of stdin) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      await handle.write(bytes);
      yield bytes;
    }
  } finally {
    await handle.close();
  }
}
