/**
 * The database connection: PGlite (embedded, a folder under the data directory) or PostgreSQL
 * (`pg`, when a URL is given), migrated on open. Same schema and migrations for both.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

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

export interface Connection {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** where the data lives, safe to log (passwords redacted) */
  where: string;
  paramLimit: number;
  close(): Promise<void>;
}

export async function openConnection(loc: StoreLocation = {}): Promise<Connection> {
  if (loc.databaseUrl) {
    const { default: pg } = await import('pg');
    const { drizzle } = await import('drizzle-orm/node-postgres');
    const { migrate } = await import('drizzle-orm/node-postgres/migrator');
    const pool = new pg.Pool({ connectionString: loc.databaseUrl, max: 8 });
    // an idle client losing its connection (server restart, network cut) must not crash the
    // process; the next query gets a fresh connection or a clear error
    pool.on('error', () => {});
    const db = drizzle(pool);
    await migrate(db, { migrationsFolder: MIGRATIONS_DIR });
    return { db: db as unknown as Db, kind: 'postgres', where: redactUrl(loc.databaseUrl), paramLimit: PARAM_LIMIT.postgres, close: () => pool.end() };
  }
  const dir = path.resolve(loc.dataDir ?? '.sigma-sweep', 'pglite');
  mkdirSync(dir, { recursive: true });
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  const client = new PGlite(dir);
  const db = drizzle(client);
  await migrate(db, { migrationsFolder: MIGRATIONS_DIR });
  return { db: db as unknown as Db, kind: 'pglite', where: dir, paramLimit: PARAM_LIMIT.pglite, close: () => client.close() };
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
