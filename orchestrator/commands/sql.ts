/** `sigma-sweep sql <query>`: run a SQL query against the results database; tab-separated rows. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { storeOptions, withStore, type CommandContext, type StoreFlags } from './options.ts';

export function sqlCommand(program: Command, { out, log }: CommandContext): void {
  storeOptions(
    program
      .command('sql')
      .description('Run a SQL query against the results database (views: sample_l0, attack_summary).')
      .argument('<query>', 'SQL text, or @file.sql'),
  ).action(async (query: string, flags: StoreFlags) => {
    const text = query.startsWith('@') ? readFileSync(query.slice(1), 'utf8') : query;
    await withStore(flags, log(), async (store) => {
      const { fields, rows } = await store.reports.query(text);
      out(fields.join('\t') + '\n');
      for (const r of rows) out(fields.map((f) => (r[f] === null ? '' : String(r[f]))).join('\t') + '\n');
    });
  });
}
