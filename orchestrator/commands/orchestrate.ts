/**
 * `sigma-sweep orchestrate`: ingest results into the database, record dead tasks and re-publish
 * stragglers, until SIGTERM/SIGINT (or until the sweep is done with --until-done).
 */
import type { Command } from 'commander';
import { names } from '../../protocol/names.ts';
import { orchestrate } from '../orchestrate.ts';
import {
  natsOptions,
  nonEmpty,
  natsSettings,
  resolveSweepId,
  storeOptions,
  withNats,
  withStore,
  type CommandContext,
  type NatsFlags,
  type StoreFlags,
} from './options.ts';

export function orchestrateCommand(program: Command, { log }: CommandContext): void {
  natsOptions(
    storeOptions(
      program
        .command('orchestrate')
        .description('Ingest results into the database, record dead tasks and re-publish stragglers (runs until stopped, or until --sweep is done with --until-done).')
        .option('--sweep <id>', 'sweep to watch for progress and stragglers', nonEmpty('--sweep'))
        .option('--until-done', 'exit once the sweep has no task left to run', false),
    ),
  ).action(async (flags: StoreFlags & NatsFlags & { sweep?: string; untilDone: boolean }) => {
    await withStore(flags, log(), (store) =>
      withNats(natsSettings(flags), async (nc) => {
        const ac = new AbortController();
        const stop = () => ac.abort();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        const sweepId = flags.sweep ? await resolveSweepId(store, flags.sweep) : undefined;
        const stats = await orchestrate(nc, names(flags.ns), store, { sweepId, untilDone: flags.untilDone, log: log(), signal: ac.signal });
        log().info('orchestrator stopped', { ...stats });
      }),
    );
  });
}
