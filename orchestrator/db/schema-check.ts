/**
 * Is the database's schema what sigma-sweep expects? Expected: the tables of schema/tables.ts
 * (columns with their types and NOT NULL, primary keys, foreign keys) and the views of the
 * migrations (the latest CREATE [OR REPLACE] VIEW of each, their columns derived by running those
 * definitions in a scratch schema that is rolled back). Found: pg_catalog of the `public` schema.
 *
 * Repairs only what holds no data: views (dropped and re-run from their definitions) and foreign
 * keys whose tables are there. A missing table or column is reported with how to recover it;
 * recreating it empty would pass off lost rows as never written.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { is } from 'drizzle-orm';
import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import * as schemaTables from '../../schema/tables.ts';
import { MIGRATIONS_DIR, type Db } from './connection.ts';
import { inTransaction, type RawQuery } from './raw-query.ts';

export interface ExpectedColumn {
  name: string;
  type: string;
  notNull: boolean;
}

export interface ExpectedForeignKey {
  name: string;
  columns: string[];
  foreignTable: string;
  foreignColumns: string[];
  onDelete: string;
}

export interface ExpectedTable {
  name: string;
  columns: ExpectedColumn[];
  primaryKey: string[];
  foreignKeys: ExpectedForeignKey[];
}

export interface ExpectedView {
  name: string;
  /** the latest definition, as the migrations wrote it */
  sql: string;
}

export type ProblemKind = 'missing-table' | 'missing-column' | 'column-type' | 'column-null' | 'primary-key' | 'missing-foreign-key' | 'missing-view' | 'view-columns' | 'views-unchecked';

export interface SchemaProblem {
  kind: ProblemKind;
  /** table, table.column, view or constraint name */
  object: string;
  detail: string;
  /** what --repair does about it, or what the user has to do */
  fix: string;
  repairable: boolean;
}

const SCHEMA = 'public';
const SCRATCH = 'sigma_sweep_schema_check';

/** The tables schema/tables.ts defines. */
export function expectedTables(): ExpectedTable[] {
  return (Object.values(schemaTables) as unknown[])
    .filter((v): v is PgTable => is(v, PgTable))
    .map((t) => {
      const c = getTableConfig(t);
      const primaryKey = c.primaryKeys[0]?.columns.map((x) => x.name) ?? c.columns.filter((x) => x.primary).map((x) => x.name);
      const foreignKeys = c.foreignKeys.map((fk) => {
        const r = fk.reference();
        return { name: fk.getName(), columns: r.columns.map((x) => x.name), foreignTable: getTableConfig(r.foreignTable).name, foreignColumns: r.foreignColumns.map((x) => x.name), onDelete: fk.onDelete ?? 'no action' };
      });
      return { name: c.name, columns: c.columns.map((x) => ({ name: x.name, type: x.getSQLType(), notNull: x.notNull })), primaryKey, foreignKeys };
    });
}

/** The views the migrations leave behind, in order of first creation, each with its latest definition. */
export function expectedViews(dir = MIGRATIONS_DIR): ExpectedView[] {
  const journal = JSON.parse(readFileSync(path.join(dir, 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string }[] };
  const views = new Map<string, string>();
  for (const { tag } of journal.entries) {
    for (const stmt of readFileSync(path.join(dir, `${tag}.sql`), 'utf8').split('--> statement-breakpoint')) {
      const created = /CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+"?(\w+)"?/i.exec(stmt);
      if (created) views.set(created[1], stmt.trim());
      for (const m of stmt.matchAll(/DROP\s+VIEW\s+(?:IF\s+EXISTS\s+)?"?(\w+)"?/gi)) views.delete(m[1]);
    }
  }
  return [...views].map(([name, sql]) => ({ name, sql }));
}

interface FoundColumn {
  type: string;
  notNull: boolean;
}

/** relation → column → type/null, for tables and views of `schema`. */
async function foundColumns(q: RawQuery, schema: string, relkinds: string): Promise<Map<string, Map<string, FoundColumn>>> {
  const { rows } = await q(`
    SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = '${schema}' AND c.relkind IN (${relkinds}) AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY c.relname, a.attnum`);
  const out = new Map<string, Map<string, FoundColumn>>();
  for (const [rel, col, type, notNull] of rows) {
    if (!out.has(rel!)) out.set(rel!, new Map());
    out.get(rel!)!.set(col!, { type: type!, notNull: notNull === 't' });
  }
  return out;
}

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;
const list = (xs: string[]) => xs.map(quoteIdent).join(', ');

/** How to get a lost table back: a backup, or a new database; never an empty stand-in. */
function tableRecovery(t: ExpectedTable, all: ExpectedTable[]): string {
  const dependents = all.filter((o) => o.foreignKeys.some((fk) => fk.foreignTable === t.name)).map((o) => o.name);
  return [
    `its rows are gone from this database. Restore table ${t.name} from a backup (PostgreSQL: pg_restore --table=${t.name} …; PGlite: a copy of the --data-dir folder), then run \`sigma-sweep migrate --repair\` for the views and foreign keys.`,
    `Without a backup: start a new database (another --data-dir or --db) and rerun the sweeps.`,
    `An empty table ${t.name} is not recreated here${dependents.length ? `: the rows of ${dependents.join(', ')} that refer to it could no longer be matched` : ''}.`,
  ].join(' ');
}

/** The expected views' columns, by running their definitions in a scratch schema (rolled back); null when they cannot run. */
async function viewColumnsFromDefinitions(db: Db, views: ExpectedView[]): Promise<{ columns: Map<string, Map<string, FoundColumn>> } | { error: string }> {
  try {
    return await inTransaction(db, 'scratch', async (q) => {
      await q(`CREATE SCHEMA ${SCRATCH}`);
      await q(`SET LOCAL search_path = ${SCRATCH}, ${SCHEMA}`);
      for (const v of views) await q(v.sql);
      return { columns: await foundColumns(q, SCRATCH, `'v'`) };
    });
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** Every difference between the database and the expected schema; empty when sound. */
export async function checkSchema(db: Db): Promise<SchemaProblem[]> {
  const tables = expectedTables();
  const views = expectedViews();
  const { found, pks, fks, viewNames } = await inTransaction(db, 'read-only', async (q) => ({
    found: await foundColumns(q, SCHEMA, `'r', 'p'`),
    pks: new Map(
      (
        await q(`
        SELECT c.relname, string_agg(a.attname, ',' ORDER BY array_position(i.indkey::int2[], a.attnum))
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
        WHERE i.indisprimary AND n.nspname = '${SCHEMA}' GROUP BY c.relname`)
      ).rows.map(([t, cols]) => [t!, cols!]),
    ),
    fks: new Set((await q(`SELECT c.relname || '.' || k.conname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE k.contype = 'f' AND n.nspname = '${SCHEMA}'`)).rows.map(([x]) => x!)),
    viewNames: new Set((await q(`SELECT table_name FROM information_schema.views WHERE table_schema = '${SCHEMA}'`)).rows.map(([x]) => x!)),
  }));

  const problems: SchemaProblem[] = [];
  const keyProblems: SchemaProblem[] = []; // listed after the tables they hang on
  for (const t of tables) {
    const cols = found.get(t.name);
    if (!cols) {
      problems.push({ kind: 'missing-table', object: t.name, detail: `table ${t.name} is missing`, fix: tableRecovery(t, tables), repairable: false });
      continue;
    }
    for (const c of t.columns) {
      const f = cols.get(c.name);
      const where = `${t.name}.${c.name}`;
      const restore = `restore it from a backup or start a new database; sigma-sweep does not guess its lost values`;
      if (!f) problems.push({ kind: 'missing-column', object: where, detail: `column ${where} (${c.type}${c.notNull ? ' NOT NULL' : ''}) is missing`, fix: restore, repairable: false });
      else if (f.type !== c.type) problems.push({ kind: 'column-type', object: where, detail: `column ${where} is ${f.type}, expected ${c.type}`, fix: `ALTER TABLE ${t.name} ALTER COLUMN ${c.name} TYPE ${c.type} (check the values first)`, repairable: false });
      else if (f.notNull !== c.notNull) problems.push({ kind: 'column-null', object: where, detail: `column ${where} is ${f.notNull ? 'NOT NULL' : 'nullable'}, expected ${c.notNull ? 'NOT NULL' : 'nullable'}`, fix: `ALTER TABLE ${t.name} ALTER COLUMN ${c.name} ${c.notNull ? 'SET' : 'DROP'} NOT NULL`, repairable: false });
    }
    const pk = pks.get(t.name);
    if (pk !== t.primaryKey.join(','))
      problems.push({ kind: 'primary-key', object: t.name, detail: `table ${t.name} has ${pk ? `primary key (${pk})` : 'no primary key'}, expected (${t.primaryKey.join(', ')}); upserts on it fail`, fix: `ALTER TABLE ${t.name} ADD PRIMARY KEY (${t.primaryKey.join(', ')}) once its rows are unique`, repairable: false });
    for (const fk of t.foreignKeys) {
      if (fks.has(`${t.name}.${fk.name}`)) continue;
      const target = found.has(fk.foreignTable);
      keyProblems.push({
        kind: 'missing-foreign-key',
        object: fk.name,
        detail: `foreign key ${fk.name} (${t.name}(${fk.columns.join(', ')}) → ${fk.foreignTable}(${fk.foreignColumns.join(', ')})) is missing`,
        fix: target ? '--repair adds it back (it fails, changing nothing, if rows refer to missing keys)' : `needs table ${fk.foreignTable} back first`,
        repairable: target,
      });
    }
  }

  problems.push(...keyProblems);
  const tablesSound = !problems.some((p) => p.kind === 'missing-table' || p.kind === 'missing-column' || p.kind === 'column-type');
  const derived = tablesSound ? await viewColumnsFromDefinitions(db, views) : null;
  const actualViews = viewNames.size ? await inTransaction(db, 'read-only', (q) => foundColumns(q, SCHEMA, `'v'`)) : new Map<string, Map<string, FoundColumn>>();
  const viewFix = tablesSound ? '--repair re-creates the views from their definitions (views hold no data)' : 'the views can be re-created (--repair) once the tables above are back';
  for (const v of views) {
    if (!viewNames.has(v.name)) {
      problems.push({ kind: 'missing-view', object: v.name, detail: `view ${v.name} is missing`, fix: viewFix, repairable: tablesSound });
      continue;
    }
    if (derived && 'columns' in derived) {
      const want = [...(derived.columns.get(v.name) ?? new Map())].map(([n, c]) => `${n} ${c.type}`).join(', ');
      const have = [...(actualViews.get(v.name) ?? new Map())].map(([n, c]) => `${n} ${c.type}`).join(', ');
      if (want !== have) problems.push({ kind: 'view-columns', object: v.name, detail: `view ${v.name} has columns (${have}), its definition gives (${want})`, fix: viewFix, repairable: true });
    }
  }
  if (derived && 'error' in derived) problems.push({ kind: 'views-unchecked', object: views.map((v) => v.name).join(', '), detail: `the view definitions do not run on these tables: ${derived.error}`, fix: 'check the tables; then --repair re-creates the views', repairable: false });
  return problems;
}

/** Repair what `checkSchema` marked repairable, in one transaction per kind; returns what was done. */
export async function repairSchema(db: Db, problems: SchemaProblem[]): Promise<string[]> {
  const done: string[] = [];
  if (problems.some((p) => p.repairable && (p.kind === 'missing-view' || p.kind === 'view-columns'))) {
    const views = expectedViews();
    await inTransaction(db, 'read-write', async (q) => {
      for (const v of [...views].reverse()) await q(`DROP VIEW IF EXISTS ${quoteIdent(v.name)}`);
      for (const v of views) await q(v.sql);
    });
    done.push(`re-created views ${views.map((v) => v.name).join(', ')}`);
  }
  const missingFks = new Set(problems.filter((p) => p.repairable && p.kind === 'missing-foreign-key').map((p) => p.object));
  for (const t of expectedTables()) {
    for (const fk of t.foreignKeys.filter((f) => missingFks.has(f.name))) {
      await inTransaction(db, 'read-write', (q) =>
        q(`ALTER TABLE ${quoteIdent(t.name)} ADD CONSTRAINT ${quoteIdent(fk.name)} FOREIGN KEY (${list(fk.columns)}) REFERENCES ${quoteIdent(SCHEMA)}.${quoteIdent(fk.foreignTable)} (${list(fk.foreignColumns)}) ON DELETE ${fk.onDelete}`),
      );
      done.push(`added foreign key ${fk.name}`);
    }
  }
  return done;
}
