/** `sigma-sweep table`: print the paper-style table of a stored sweep. */
import { Option, type Command } from 'commander';
import { renderTable } from '../report.ts';
import { nonEmpty, parseFormat, READER_WAIT_MS, resolveSweepId, storeOptions, withStore, type CommandContext, type StoreFlags } from './options.ts';

export function tableCommand(program: Command, { out, log }: CommandContext): void {
  storeOptions(
    program
      .command('table')
      .description('Print the paper-style table of a stored sweep (computed by SQL from the per-sample rows).')
      .option('--sweep <id>', 'sweep id or name (default: the latest sweep)', nonEmpty('--sweep'))
      .addOption(new Option('--format <fmt>', 'table format').choices(['markdown', 'csv', 'latex']).default('markdown')),
  ).action(async (flags: StoreFlags & { sweep?: string; format: string }) => {
    await withStore(flags, log(), async (store) => {
      const id = await resolveSweepId(store, flags.sweep);
      out(`sweep ${id}\n\n`);
      out(renderTable(await store.reports.summary(id), parseFormat(flags.format)));
    }, { mustExist: true, waitMs: READER_WAIT_MS }); // reading: never creates a database
  });
}
