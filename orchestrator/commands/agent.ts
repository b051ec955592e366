/**
 * `sigma-sweep agent`: run a worker that pulls tasks from NATS JetStream and publishes results.
 * The worker is imported on use, so the other commands do not load it.
 */
import { Option, type Command } from 'commander';
import { defaultSlots } from '../../agent/engine/backend.ts';
import { natsOptions, natsSettings, positiveInteger, positiveNumber, type CommandContext, type NatsFlags } from './options.ts';

type AgentFlags = NatsFlags & { slots: number; backend: string; id?: string; drainTimeout: number };

export function agentCommand(program: Command, { log }: CommandContext): void {
  natsOptions(
    program
      .command('agent')
      .description('Run a worker: pull tasks from NATS JetStream, run the attacks on this machine, publish the results. SIGTERM drains.')
      .addOption(
        new Option('--slots <n>', 'tensor worker threads (one wasm/tfjs instance each); tasks and their batches share them')
          .default(defaultSlots(), 'the cores; 1 with tfjs-node-gpu')
          .argParser(positiveInteger('--slots')),
      )
      .addOption(new Option('--backend <name>', 'tensor backend').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'))
      .option('--id <id>', 'agent id in the registry (default: host-pid)')
      .addOption(
        new Option('--drain-timeout <seconds>', 'on SIGTERM, how long to let running tasks finish before handing them back')
          .default(30)
          .argParser(positiveNumber('--drain-timeout')),
      ),
  ).action(async (flags: AgentFlags) => {
    const { runAgent } = await import('../worker/agent.ts');
    await runAgent({
      nats: natsSettings(flags),
      ns: flags.ns,
      slots: flags.slots,
      backend: flags.backend,
      id: flags.id,
      log: log(),
      drainTimeoutMs: flags.drainTimeout * 1000,
    });
  });
}
