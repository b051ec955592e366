/**
 * Writing a report's files: everything is rendered first, then each file is written next to its
 * final name and renamed over it, so a failure leaves no half-written file behind (a reader of the
 * folder sees each file old or new, never cut short).
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BadInputError } from '../../schema/errors.ts';

export interface OutFile {
  /** a plain file name inside the output folder */
  name: string;
  data: string | Uint8Array;
}

/** Write `files` into `dir` (created when missing); returns their paths, in order. */
export function writeFiles(dir: string, files: readonly OutFile[]): string[] {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new BadInputError(`--out: cannot create folder '${dir}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const paths: string[] = [];
  for (const f of files) {
    if (path.basename(f.name) !== f.name) throw new Error(`writeFiles: '${f.name}' is not a plain file name`);
    const target = path.join(dir, f.name);
    const tmp = path.join(dir, `.${f.name}.${process.pid}.tmp`);
    try {
      writeFileSync(tmp, f.data);
      renameSync(tmp, target);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw new BadInputError(`--out: cannot write '${target}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    paths.push(target);
  }
  return paths;
}
