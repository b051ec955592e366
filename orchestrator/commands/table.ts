/** `sigma-sweep table`: print the paper-style table of a stored sweep. */
import type { Command } from 'commander';
import { renderTable } from '../report.ts';
import { nonEmpty, parseFormat, tableFormatOption, READ_ONLY, resolveSweepId, storeOptions, withStore, type CommandContext, type StoreFlags } from './options.ts';

export function tableCommand(program: Command, { out, log }: CommandContext): void {
  storeOptions(
    program
      .command('table')
      .description('Print the paper-style table of a stored sweep (computed by SQL from the per-sample rows).')
      .option('--sweep <id>', 'sweep id or name (default: the latest sweep)', nonEmpty('--sweep'))
      .addOption(tableFormatOption()),
  ).action(async (flags: StoreFlags & { sweep?: string; format: string }) => {
    await withStore(flags, log(), async (store) => {
      const id = await resolveSweepId(store, flags.sweep);
      out(`sweep ${id}\n\n`);
      out(renderTable(await store.reports.summary(id), parseFormat(flags.format)));
    }, READ_ONLY); // reading: never creates a database
  });
}
