/**
 * One process at a time on an embedded database: PGlite keeps its files in one folder and two
 * processes writing it lose data ("the second sweep is missing"). The folder gets a lock file with
 * the holder's pid, created exclusively; a lock whose process is gone (killed) is taken over. A
 * second process waits up to `waitMs` (reads wait briefly for a run to finish) and then fails with
 * DataDirInUseError naming the holder.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BadInputError } from '../../schema/errors.ts';

export const LOCK_FILE = 'sigma-sweep.lock';

export class DataDirInUseError extends BadInputError {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly command: string,
  ) {
    super(`data dir ${dataDir} is in use by pid ${pid}${command ? ` (${command})` : ''}: wait for it to finish, or use another --data-dir`);
    this.name = 'DataDirInUseError';
  }
}

interface Holder {
  pid: number;
  command: string;
}

function readHolder(file: string): Holder | null {
  try {
    const [pid, ...rest] = readFileSync(file, 'utf8').split('\n');
    return { pid: Number(pid), command: rest.join(' ').trim() };
  } catch {
    return null;
  }
}

/** Whether a process with this pid exists (EPERM: it exists, under another user). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live holder of a data dir's lock, or null when it is free (or held by a dead process). */
export function lockHolder(dataDir: string): Holder | null {
  const h = readHolder(path.join(dataDir, LOCK_FILE));
  return h && processAlive(h.pid) && h.pid !== process.pid ? h : null;
}

export interface DataDirLock {
  /** whether the previous holder died without releasing it (its tasks may be left "running") */
  tookOverFrom: number | null;
  release(): void;
}

export async function lockDataDir(dataDir: string, opts: { waitMs?: number; command?: string } = {}): Promise<DataDirLock> {
  const file = path.join(dataDir, LOCK_FILE);
  const end = Date.now() + (opts.waitMs ?? 0);
  let tookOverFrom: number | null = null;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n${opts.command ?? ''}\n`);
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = readHolder(file);
    if (holder && !processAlive(holder.pid)) {
      // the holder was killed: take the lock over (rm then exclusive create, so two racers cannot both win)
      tookOverFrom = holder.pid;
      rmSync(file, { force: true });
      continue;
    }
    if (Date.now() >= end) throw new DataDirInUseError(dataDir, holder?.pid ?? NaN, holder?.command ?? '');
    await sleep(200);
  }
  const release = () => {
    const h = readHolder(file);
    if (h?.pid === process.pid) rmSync(file, { force: true });
    process.off('exit', release);
  };
  process.on('exit', release); // a crash or process.exit still frees it (SIGKILL leaves it: taken over above)
  return { tookOverFrom, release };
}
