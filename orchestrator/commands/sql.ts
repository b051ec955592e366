/**
 * `sigma-sweep sql <query>`: run one SQL statement against the results database and print its rows
 * (orchestrator/sql-format.ts describes the formats). The statement runs in a READ ONLY transaction
 * that is always rolled back; `--write` runs it in a read-write transaction that commits.
 */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { renderRows, duplicateColumn, SQL_FORMATS, type SqlFormat } from '../sql-format.ts';
import type { RawResult } from '../db/raw-query.ts';
import { READ_ONLY, storeOptions, UsageError, withStore, type CommandContext, type StoreFlags } from './options.ts';

type SqlFlags = StoreFlags & { format?: SqlFormat; write: boolean };

/**
 * SQLSTATE classes that mean "this statement is wrong" rather than "the database failed": feature
 * not supported, cardinality, data exception, integrity violation, transaction state (read-only),
 * syntax or access rule, WITH CHECK OPTION. They exit 2 like any other bad input.
 */
const STATEMENT_ERROR_CLASSES = new Set(['0A', '21', '22', '23', '25', '42', '44']);

/** The SQL text: the argument, or the file named after '@'; empty text is bad input. */
export function readQueryText(arg: string): string {
  let text = arg;
  if (arg.startsWith('@')) {
    const file = arg.slice(1);
    if (!file) throw new UsageError("<query>: '@' must be followed by a file name (@file.sql)");
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new UsageError(`<query>: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (!text.trim()) throw new UsageError(`<query>: empty SQL${arg.startsWith('@') ? ` in ${arg.slice(1)}` : ''}`);
  return text;
}

/** A PostgreSQL error caused by the statement itself → UsageError (exit 2) with what to do; others unchanged. */
export function statementError(e: unknown): unknown {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code) || !STATEMENT_ERROR_CLASSES.has(code.slice(0, 2))) return e;
  const msg = (e as Error).message;
  if (code === '25006') return new UsageError(`sql: ${msg}: the statement writes, and \`sql\` runs read-only; pass --write to allow it`);
  if (code === '42601' && /multiple commands/.test(msg)) return new UsageError('sql: one statement per call (the text holds several)');
  if (code === '42P01') return new UsageError(`sql: ${msg} (if it is one of sigma-sweep's tables or views, \`sigma-sweep migrate\` checks the schema)`);
  return new UsageError(`sql: ${msg} (SQLSTATE ${code})`);
}

export function sqlCommand(program: Command, { out, log }: CommandContext): void {
  storeOptions(
    program
      .command('sql')
      .description(
        'Run one SQL statement against the results database (views: sample_l0, attack_summary) in a read-only transaction; --write to change data.',
      )
      .argument('<query>', 'SQL text, or @file.sql')
      .addOption(
        new Option(
          '--format <fmt>',
          'table (aligned, NULL shown as NULL), tsv (COPY text: \\t \\n \\\\ escaped, null \\N), csv (RFC 4180, null empty), json (array of objects; needs unique column names); default: table on a terminal, tsv otherwise',
        ).choices(SQL_FORMATS),
      )
      .option('--write', 'allow the statement to change the database (committed); default: read-only, rolled back', false),
  ).action(async (query: string, flags: SqlFlags) => {
    const text = readQueryText(query);
    const format: SqlFormat = flags.format ?? (process.stdout.isTTY ? 'table' : 'tsv');
    await withStore(flags, log(), async (store) => {
      // a json result with duplicate names is refused before the commit, so nothing is written
      const accept = (r: RawResult) => {
        const dup = format === 'json' && r.fields.length ? duplicateColumn(r.fields) : null;
        if (dup) throw new UsageError(`--format json: column name '${dup.name}' appears at positions ${dup.positions.join(' and ')}; name the columns apart with AS, or use --format table, tsv or csv`);
      };
      let res: RawResult;
      try {
        res = await store.reports.query(text, { raw: true, write: flags.write, accept });
      } catch (e) {
        throw statementError(e);
      }
      if (res.fields.length === 0) {
        log().info('statement done', { ...(res.command ? { command: res.command } : {}), ...(res.rowCount !== null ? { rows: res.rowCount } : {}), committed: flags.write });
        return;
      }
      out(renderRows(format, res.fields, res.rows));
    }, READ_ONLY); // never creates a database to query
  });
}
