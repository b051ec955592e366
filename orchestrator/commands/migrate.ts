/**
 * `sigma-sweep migrate [--repair]`: apply pending migrations (as every command does on open), then
 * check the schema against schema/tables.ts and the views of the migrations and print what is
 * missing or wrong (exit 1 when damaged, 0 when sound). --repair re-creates what holds no data
 * (views, foreign keys) and says how to recover the rest (orchestrator/db/schema-check.ts).
 */
import type { Command } from 'commander';
import { openConnection } from '../db/connection.ts';
import { checkSchema, repairSchema, type SchemaProblem } from '../db/schema-check.ts';
import { READ_ONLY, storeOptions, type CommandContext, type StoreFlags } from './options.ts';

/** Problems as lines for people: what is wrong, then what to do. */
export function describeProblems(problems: SchemaProblem[]): string {
  return problems.map((p) => `  - ${p.detail}\n      ${p.repairable ? 'repair' : 'to do'}: ${p.fix}\n`).join('');
}

export function migrateCommand(program: Command, { out, log }: CommandContext): void {
  storeOptions(
    program
      .command('migrate')
      .description('Apply pending migrations and check the schema (tables, columns, keys, views); exit 1 when damaged. --repair re-creates views and foreign keys.')
      .option('--repair', 're-create what holds no data (views, foreign keys); missing tables and columns are only reported, with how to recover them', false),
  ).action(async (flags: StoreFlags & { repair: boolean }) => {
    // the raw connection (not withStore): the check needs the drizzle db under the repositories
    const conn = await openConnection({ databaseUrl: flags.db, dataDir: flags.dataDir }, { ...READ_ONLY, command: 'sigma-sweep migrate' });
    log().debug('store open', { kind: conn.kind, where: conn.where });
    try {
      let problems = await checkSchema(conn.db);
      if (problems.length && flags.repair) {
        for (const step of await repairSchema(conn.db, problems)) out(`repaired: ${step}\n`);
        problems = await checkSchema(conn.db);
      }
      if (!problems.length) {
        out('schema sound\n');
        return;
      }
      out(`schema damaged: ${problems.length} problem(s)\n${describeProblems(problems)}`);
      if (!flags.repair && problems.some((p) => p.repairable)) out('run `sigma-sweep migrate --repair` for the ones marked repair\n');
      throw new SchemaDamaged(problems.length);
    } finally {
      await conn.close();
    }
  });
}

/** Exit 1 without a second message (the problems are already on stdout). */
export class SchemaDamaged extends Error {
  constructor(readonly count: number) {
    super(`schema damaged: ${count} problem(s)`);
    this.name = 'SchemaDamaged';
  }
}
