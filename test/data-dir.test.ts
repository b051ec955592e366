/**
 * The embedded database belongs to one process at a time (a second `run` used to exit 0 and lose
 * its sweep), read-only commands never create a database, and a database that cannot be opened is
 * named with the reason (connection refused, no such database, not a URL, damaged files).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Store } from '../orchestrator/db/store.ts';
import { LOCK_FILE, lockDataDir } from '../orchestrator/db/lock.ts';
import { writeSpec } from './helpers/zoo.ts';
import { cli } from './helpers/cli.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  vi.restoreAllMocks();
});


/** A child process that holds the data dir's lock until killed. */
async function holdLock(dataDir: string): Promise<ChildProcess> {
  const code = `import { register } from 'tsx/esm/api'; register();
const { lockDataDir } = await import(${JSON.stringify(path.join(ROOT, 'orchestrator/db/lock.ts'))});
await lockDataDir(process.argv[1], { command: 'holder' }); process.stdout.write('locked\\n'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code, dataDir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.once('exit', (c) => reject(new Error(`lock holder exited ${c}`)));
  });
  return child;
}

const tinySpec = (name: string, steps = 5) =>
  writeSpec(`sigma-${name}-`, [`name: ${name}`, 'datasets: [{ name: mnist, samples: { first: 8 } }]', 'models: [mnist-smallcnn]', 'attacks: [sigma-zero]', `steps: [${steps}]`, 'batchSize: 4', 'shardSize: 4']);

describe('embedded data dir', () => {
  it('a second `run` on a data dir in use exits 2 naming the holder; the first run keeps its sweep', async () => {
    const { dir, spec } = tinySpec('twice', 60);
    const dataDir = path.join(dir, 'data');
    const first = spawn(process.execPath, [path.join(ROOT, 'bin/sigma-sweep.js'), 'run', spec, '--data-dir', dataDir, '--no-progress'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(first);
    let firstOut = '';
    first.stdout!.on('data', (d: Buffer) => (firstOut += d.toString()));
    const firstExit = new Promise<number | null>((resolve) => first.once('exit', resolve));
    for (const end = Date.now() + 60_000; !existsSync(path.join(dataDir, LOCK_FILE)); ) {
      if (Date.now() > end) throw new Error('the first run never locked its data dir');
      await new Promise((r) => setTimeout(r, 50));
    }
    const second = await cli(['run', spec, '--data-dir', dataDir, '--no-progress']);
    expect(second.code).toBe(2);
    expect(second.err).toMatch(new RegExp(`data dir ${dataDir.replace(/[/.]/g, '\\$&')} is in use by pid ${first.pid}`));
    expect(second.out).toBe('');
    expect(await firstExit).toBe(0);
    expect(firstOut).toMatch(/^sweep twice-/);
    // once the first run is done the data dir is free again and holds its sweep
    const table = await cli(['table', '--data-dir', dataDir]);
    expect(table.code).toBe(0);
    expect(table.out).toBe(firstOut);
    expect(existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);
  });

  it('`table` and `sql` wait briefly, then say the data dir is in use; a killed holder\'s lock is taken over', async () => {
    const { dir } = tinySpec('held');
    const dataDir = path.join(dir, 'data');
    (await Store.open({ dataDir })).close();
    const holder = await holdLock(dataDir);
    const t0 = Date.now();
    const r = await cli(['table', '--data-dir', dataDir]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(new RegExp(`is in use by pid ${holder.pid} \\(holder\\)`));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000); // it waited for the holder first
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('exit', resolve));
    const s = await cli(['sql', 'select 1 as one', '--data-dir', dataDir]);
    expect(s.code).toBe(0);
    expect(s.out).toMatch(/one/);
  });

  it('lockDataDir: a live holder blocks, a released lock frees, the holder is reported', async () => {
    const { dir } = tinySpec('lock');
    mkdirSync(dir, { recursive: true });
    const a = await lockDataDir(dir, { command: 'a' });
    // held (by this very process: PGlite cannot share its files within one process either)
    await expect(lockDataDir(dir, { waitMs: 300 })).rejects.toThrow(new RegExp(`is in use by pid ${process.pid} \\(a\\)`));
    a.release();
    const b = await lockDataDir(dir);
    expect(b.tookOverFrom).toBeNull();
    b.release();
    writeFileSync(path.join(dir, LOCK_FILE), '999999999\ngone\n'); // a dead holder
    const c = await lockDataDir(dir);
    expect(c.tookOverFrom).toBe(999999999);
    c.release();
  });

  it('read-only commands on a missing data dir exit 2 and create nothing', async () => {
    const { dir } = tinySpec('missing');
    const dataDir = path.join(dir, 'nothing-here');
    for (const args of [['table'], ['status', '--no-agents'], ['sql', 'select 1']]) {
      const r = await cli([...args, '--data-dir', dataDir]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(/--data-dir: no sigma-sweep database in/);
    }
    expect(existsSync(dataDir)).toBe(false);
  });
});

describe('databases that cannot be opened', () => {
  it.each([
    [['--db', 'postgres://postgres@127.0.0.1:1/test'], 1, /connection refused/],
    [['--db', 'postgres://postgres@127.0.0.1:5432/sigma_no_such_database'], 2, /database "sigma_no_such_database" does not exist/],
    [['--db', 'notaurl'], 2, /--db \/ DATABASE_URL: 'notaurl' is not a PostgreSQL URL/],
    [['--db', 'mysql://u@h/db'], 2, /is not a PostgreSQL URL/],
  ])('%j → exit %i and the reason', async (flags, code, pattern) => {
    const r = await cli(['table', ...(flags as string[])]);
    expect(r.code).toBe(code);
    expect(r.err).toMatch(pattern as RegExp);
    expect(r.err).not.toMatch(/Failed query|params:/);
  });

  it('damaged embedded files: exit 1 naming the folder', async () => {
    const { dir } = tinySpec('damaged');
    mkdirSync(path.join(dir, 'data', 'pglite'), { recursive: true });
    writeFileSync(path.join(dir, 'data', 'pglite', 'PG_VERSION'), 'garbage\n');
    const r = await cli(['table', '--data-dir', path.join(dir, 'data')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/embedded database in .*pglite cannot be opened/);
  });
});
