/**
 * `sigma-sweep agent`: run a worker that pulls tasks from NATS JetStream and publishes results.
 * The worker is imported on use, so the other commands do not load it.
 */
import { Option, type Command } from 'commander';
import { defaultSlots } from '../../agent/engine/backend.ts';
import { EXIT, ExitCodeError } from '../exit-code.ts';
import type { EngineRequest } from '../../agent/engine/ort/request.ts';
import { applyEngine, engineOption } from './engine-option.ts';
import { natsOptions, natsSettings, positiveInteger, positiveNumber, type CommandContext, type NatsFlags } from './options.ts';

type AgentFlags = NatsFlags & { slots: number; backend: string; engine: EngineRequest; id?: string; drainTimeout: number; exitWhenIdle?: number; stopWithParent: boolean };

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
      .addOption(engineOption())
      .option('--id <id>', 'agent id in the registry (default: host-pid)')
      .addOption(
        new Option('--drain-timeout <seconds>', 'on SIGTERM, how long to let running tasks finish before handing them back')
          .default(30)
          .argParser(positiveNumber('--drain-timeout')),
      )
      .addOption(
        new Option(
          '--exit-when-idle <seconds>',
          'exit 0 once this agent held no task and the task queue was empty (nothing queued, running or awaiting redelivery) for this long; ' +
            'a stop by a signal then exits 143, so that a Kubernetes Job does not take it for a finished queue',
        ).argParser(positiveNumber('--exit-when-idle')),
      )
      // set by `launch --local`, which starts its agents with an IPC channel (local-agents.ts)
      .addOption(new Option('--stop-with-parent', 'drain and stop when the process that started this agent ends').default(false).hideHelp()),
  ).action(async (flags: AgentFlags) => {
    await applyEngine(flags.engine, flags.slots);
    const { runAgent } = await import('../worker/agent.ts');
    // started by `launch --local` (an IPC channel to it): stop when the launcher goes away, even
    // when it was killed without a chance to stop us; the channel must not keep us alive itself
    const parentGone = new AbortController();
    if (flags.stopWithParent && process.channel) {
      process.channel.unref();
      process.once('disconnect', () => parentGone.abort());
      // the launcher read our stdout/stderr: once it is gone, log writes fail with EPIPE, which
      // must not kill the agent before it has drained
      for (const s of [process.stdout, process.stderr]) s.on('error', () => {});
    }
    const stop = await runAgent({
      nats: natsSettings(flags),
      ns: flags.ns,
      slots: flags.slots,
      backend: flags.backend,
      id: flags.id,
      log: log(),
      drainTimeoutMs: flags.drainTimeout * 1000,
      exitWhenIdleMs: flags.exitWhenIdle === undefined ? undefined : flags.exitWhenIdle * 1000,
      stopSignal: parentGone.signal,
    });
    if (flags.exitWhenIdle !== undefined && stop.reason !== 'idle') {
      throw new ExitCodeError(EXIT.sigterm, `agent stopped by ${stop.reason}, not for an empty queue: exit 143 (a Job does not count it as finished)`);
    }
  });
}
