/**
 * Raw SQL on the driver under drizzle (node-postgres Pool or PGlite), for `sigma-sweep sql` and
 * `sigma-sweep migrate`: one transaction on one connection, rows as arrays (two columns with the
 * same name stay two columns) and every value as the text PostgreSQL sends (no driver parsing: no
 * int8 rounded to a double, no jsonb turned into an object, no timestamp shifted into a Date).
 */
import type { Db } from './connection.ts';

/** A result column: its name and PostgreSQL type OID. */
export interface RawField {
  name: string;
  typeId: number;
}

/** One statement's result: values are PostgreSQL's text output, or null. */
export interface RawResult {
  fields: RawField[];
  rows: (string | null)[][];
  /** rows affected (INSERT/UPDATE/DELETE) or returned; null when the driver does not say */
  rowCount: number | null;
  /** the command tag's verb (SELECT, INSERT, …) when the driver reports it */
  command: string | null;
}

/** Runs one SQL statement (extended protocol: a second statement in the text is an error). */
export type RawQuery = (text: string) => Promise<RawResult>;

/** read-only: rolled back; read-write: committed; scratch: may write, always rolled back. */
export type TxMode = 'read-only' | 'read-write' | 'scratch';

interface PgPoolLike {
  connect(): Promise<PgClientLike>;
}
interface PgClientLike {
  query(q: string | Record<string, unknown>): Promise<{ fields: { name: string; dataTypeID: number }[]; rows: unknown[]; rowCount: number | null; command: string }>;
  release(): void;
}
interface PGliteLike {
  parsers: Record<string, unknown>;
  transaction<T>(fn: (tx: PGliteTx) => Promise<T>): Promise<T>;
}
interface PGliteTx {
  query(text: string, params?: unknown[], opts?: Record<string, unknown>): Promise<{ fields: { name: string; dataTypeID: number }[]; rows: unknown[]; affectedRows?: number }>;
  exec(text: string): Promise<unknown>;
  rollback(): Promise<void>;
}

const identity = (v: string) => v;
/** node-postgres: no type parsing at all. */
const PG_RAW_TYPES = { getTypeParser: () => identity };

/** The client drizzle was built on (drizzle sets `$client` on both drivers). */
function driverOf(db: Db): { kind: 'pg'; pool: PgPoolLike } | { kind: 'pglite'; client: PGliteLike } {
  const client = (db as unknown as { $client?: unknown }).$client as Record<string, unknown> | undefined;
  if (!client) throw new Error('raw-query: the drizzle instance exposes no $client');
  if (typeof client.transaction === 'function' && typeof client.exec === 'function') return { kind: 'pglite', client: client as unknown as PGliteLike };
  if (typeof client.connect === 'function') return { kind: 'pg', pool: client as unknown as PgPoolLike };
  throw new Error('raw-query: unknown database driver');
}

/** PGlite: an identity parser for every type it (or its instance) would parse. */
async function pgliteRawParsers(client: PGliteLike): Promise<Record<number, (v: string) => string>> {
  const { types } = await import('@electric-sql/pglite');
  const out: Record<number, (v: string) => string> = {};
  for (const k of [...Object.keys(types.parsers), ...Object.keys(client.parsers ?? {})]) if (/^\d+$/.test(k)) out[Number(k)] = identity;
  return out;
}

/**
 * Run `fn` inside one transaction. read-only: `BEGIN READ ONLY`, a snapshot taken at once (so
 * that `SET TRANSACTION READ WRITE` can no longer lift it) and always ROLLBACK; read-write: COMMIT
 * when `fn` returns, ROLLBACK when it throws; scratch: writes allowed, always ROLLBACK.
 */
export async function inTransaction<T>(db: Db, mode: TxMode, fn: (q: RawQuery) => Promise<T>): Promise<T> {
  const d = driverOf(db);
  if (d.kind === 'pg') {
    const c = await d.pool.connect();
    try {
      await c.query(mode === 'read-only' ? 'BEGIN READ ONLY' : 'BEGIN');
      if (mode === 'read-only') await c.query('SELECT 1');
      const q: RawQuery = async (text) => {
        const r = await c.query({ text, rowMode: 'array', types: PG_RAW_TYPES, queryMode: 'extended' });
        return { fields: r.fields.map((f) => ({ name: f.name, typeId: f.dataTypeID })), rows: r.rows as (string | null)[][], rowCount: r.rowCount, command: r.command ?? null };
      };
      const out = await fn(q);
      await c.query(mode === 'read-write' ? 'COMMIT' : 'ROLLBACK');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      c.release();
    }
  }
  const parsers = await pgliteRawParsers(d.client);
  return d.client.transaction(async (tx) => {
    if (mode === 'read-only') {
      await tx.exec('SET TRANSACTION READ ONLY');
      await tx.query('SELECT 1');
    }
    const q: RawQuery = async (text) => {
      const r = await tx.query(text, [], { rowMode: 'array', parsers });
      return { fields: r.fields.map((f) => ({ name: f.name, typeId: f.dataTypeID })), rows: r.rows as (string | null)[][], rowCount: r.affectedRows ?? null, command: null };
    };
    const out = await fn(q);
    if (mode !== 'read-write') await tx.rollback();
    return out;
  });
}
