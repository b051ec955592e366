/**
 * `sigma-sweep submit <spec>`: plan a sweep, record it and publish its unfinished tasks to NATS
 * JetStream; prints the sweep id, and with --wait ingests results until done and prints the table.
 */
import { Option, type Command } from 'commander';
import { describeNats } from '../../protocol/nats.ts';
import { names } from '../../protocol/names.ts';
import { tuningFor } from '../nats/streams.ts';
import { orchestrate } from '../orchestrate.ts';
import { ProgressBar } from '../progress.ts';
import { sweepTable } from '../report.ts';
import { loadSpecFile } from '../spec.ts';
import { submitSweep } from '../submit.ts';
import {
  natsOptions,
  natsSettings,
  parseFormat,
  tableFormatOption,
  positiveInteger,
  positiveNumber,
  storeOptions,
  UsageError,
  withNats,
  withStore,
  type CommandContext,
  type NatsFlags,
  type StoreFlags,
} from './options.ts';

type SubmitFlags = StoreFlags & NatsFlags & { force: boolean; wait: boolean; ackWait: number; maxDeliver: number; format: string };

export function submitCommand(program: Command, { out, log }: CommandContext): void {
  natsOptions(
    storeOptions(
      program
        .command('submit')
        .description('Plan a sweep, record it in the database and publish the tasks without a complete result to NATS JetStream; prints the sweep id.')
        .argument('<spec>', 'sweep spec (YAML)')
        .option('--force', 'republish every task, complete or in flight (queued or running) or not; without it those are left alone', false)
        .option('--wait', 'stay, ingest results until the sweep is done, then print its table', false)
        .addOption(new Option('--ack-wait <seconds>', 'seconds before an unacknowledged task is redelivered').default(60).argParser(positiveNumber('--ack-wait')))
        .addOption(new Option('--max-deliver <n>', 'deliveries before a task is declared dead').default(5).argParser(positiveInteger('--max-deliver')))
        .addOption(tableFormatOption('table format with --wait')),
    ),
  ).action(async (specFile: string, flags: SubmitFlags) => {
    const spec = loadSpecFile(specFile);
    if (flags.maxDeliver <= 3) throw new UsageError('--max-deliver: must be more than 3 (the backoff steps; NATS 2.9 rule)');
    const settings = natsSettings(flags);
    await withStore(flags, log(), (store) =>
      withNats(settings, async (nc) => {
        const n = names(flags.ns);
        const tuning = tuningFor(flags.ackWait * 1000, flags.maxDeliver);
        const r = await submitSweep(spec, store, nc, n, { force: flags.force, tuning });
        log().info('sweep submitted', {
          sweep: r.sweepId,
          planned: r.planned,
          published: r.published,
          alreadyComplete: r.complete,
          inFlight: r.inFlight,
          nats: describeNats(settings),
        });
        out(`${r.sweepId}\n`);
        if (flags.wait) {
          const bar = new ProgressBar(r.planned, 'tasks');
          const onPoll = (s: { done: number; dead: number }) => bar.update(s.done + s.dead, s.dead ? `(${s.dead} dead)` : '');
          await orchestrate(nc, n, store, { sweepId: r.sweepId, untilDone: true, log: log(), onPoll });
          bar.finish();
          out(await sweepTable(store, [r.sweepId], parseFormat(flags.format)));
        }
      }),
    );
  });
}
