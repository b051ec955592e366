/**
 * The database connection: PGlite (embedded, a folder under the data directory) or PostgreSQL
 * (`pg`, when a URL is given), migrated on open. Same schema and migrations for both.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { BadInputError } from '../../schema/errors.ts';
import { lockDataDir, type DataDirLock } from './lock.ts';
import { describeDbError } from './errors.ts';

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'schema', 'migrations');

export type Db = PgDatabase<PgQueryResultHKT, Record<string, never>>;

/**
 * Bind parameters per statement: PostgreSQL's wire protocol allows 65535; PGlite's protocol parser
 * reads the count as a signed 16-bit number, so it gets 32767.
 */
export const PARAM_LIMIT = { postgres: 65_535, pglite: 32_767 } as const;

/** Keys per `IN (…)` list: well under both parameter limits. */
export const KEYS_PER_STATEMENT = 10_000;

export interface StoreLocation {
  /** postgres://… ; when absent, PGlite in `dataDir` */
  databaseUrl?: string;
  dataDir?: string;
}

export interface OpenOptions {
  /** embedded only: fail (BadInputError) instead of creating a database that does not exist yet */
  mustExist?: boolean;
  /** embedded only: how long to wait for another process holding the data dir */
  waitMs?: number;
  /** embedded only: what this process is doing, shown to a second process that finds the dir in use */
  command?: string;
}

/** The database could not be reached or opened (exit 1: a retry may work); the message says which and why. */
export class DatabaseUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseUnavailableError';
  }
}

/** Why opening a database failed, in words: the cause drizzle wraps ("Failed query: …") named. */
export function explainOpenFailure(where: string, e: unknown): Error {
  const { code, message: detail } = describeDbError(e);
  switch (code) {
    case 'ECONNREFUSED':
      return new DatabaseUnavailableError(`database ${where}: connection refused (is PostgreSQL running there?)`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new DatabaseUnavailableError(`database ${where}: host not found (${detail})`);
    case 'ETIMEDOUT':
      return new DatabaseUnavailableError(`database ${where}: connection timed out`);
    case '3D000':
      return new BadInputError(`database ${where}: ${detail} (create it, or point --db / DATABASE_URL at one that exists)`);
    case '28P01':
    case '28000':
      return new BadInputError(`database ${where}: authentication failed (${detail})`);
    default:
      return new DatabaseUnavailableError(`database ${where}: ${detail}`);
  }
}

/** A PostgreSQL URL, or BadInputError naming the flag. */
function checkDatabaseUrl(u: string): void {
  let url: URL | null = null;
  try {
    url = new URL(u);
  } catch {
    /* below */
  }
  if (!url || !/^postgres(ql)?:$/.test(url.protocol) || !url.hostname) {
    // an unparseable value is shown as given unless it may hold a password (user:secret@…)
    const shown = url ? redactUrl(u) : u.includes('@') ? '(a value with credentials, not shown)' : u;
    throw new BadInputError(`--db / DATABASE_URL: '${shown}' is not a PostgreSQL URL (postgres://user@host:5432/database)`);
  }
}

export interface Connection {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** where the data lives, safe to log (passwords redacted) */
  where: string;
  paramLimit: number;
  close(): Promise<void>;
  /** embedded: the pid of a previous holder that died holding the data dir (its tasks were interrupted) */
  tookOverFrom?: number | null;
}

export async function openConnection(loc: StoreLocation = {}, opts: OpenOptions = {}): Promise<Connection> {
  if (loc.databaseUrl) {
    checkDatabaseUrl(loc.databaseUrl);
    const where = redactUrl(loc.databaseUrl);
    const { default: pg } = await import('pg');
    const { drizzle } = await import('drizzle-orm/node-postgres');
    const { migrate } = await import('drizzle-orm/node-postgres/migrator');
    const pool = new pg.Pool({ connectionString: loc.databaseUrl, max: 8 });
    // an idle client losing its connection (server restart, network cut) must not crash the
    // process; the next query gets a fresh connection or a clear error
    pool.on('error', () => {});
    const db = drizzle(pool);
    try {
      await migrate(db, { migrationsFolder: MIGRATIONS_DIR });
    } catch (e) {
      await pool.end().catch(() => {});
      throw explainOpenFailure(where, e);
    }
    return { db: db as unknown as Db, kind: 'postgres', where, paramLimit: PARAM_LIMIT.postgres, close: () => pool.end() };
  }
  const dataDir = path.resolve(loc.dataDir ?? '.sigma-sweep');
  const dir = path.join(dataDir, 'pglite');
  if (!existsSync(dir)) {
    if (opts.mustExist) throw new BadInputError(`--data-dir: no sigma-sweep database in ${dataDir} (run a sweep there first, or pass --db for PostgreSQL)`);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new BadInputError(`--data-dir: cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const lock: DataDirLock = await lockDataDir(dataDir, { waitMs: opts.waitMs, command: opts.command });
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const { drizzle } = await import('drizzle-orm/pglite');
    const { migrate } = await import('drizzle-orm/pglite/migrator');
    const client = new PGlite(dir);
    const db = drizzle(client);
    try {
      await migrate(db, { migrationsFolder: MIGRATIONS_DIR });
    } catch (e) {
      await client.close().catch(() => {});
      throw new DatabaseUnavailableError(`embedded database in ${dir} cannot be opened (${describeDbError(e).message}): its files may be damaged; move the folder away to start afresh`);
    }
    const close = async () => {
      try {
        await client.close();
      } finally {
        lock.release();
      }
    };
    return { db: db as unknown as Db, kind: 'pglite', where: dir, paramLimit: PARAM_LIMIT.pglite, close, tookOverFrom: lock.tookOverFrom };
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** Rows per INSERT so that rows × columns stays under the bind-parameter limit. */
export function chunkRows<T>(rows: T[], columns: number, limit: number = PARAM_LIMIT.postgres): T[][] {
  const per = Math.max(1, Math.floor(limit / columns));
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += per) out.push(rows.slice(i, i + per));
  return out;
}

/** postgres://user:secret@host/db → postgres://user:***@host/db (never log secrets). */
export function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable database url)';
  }
}
