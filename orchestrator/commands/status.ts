/**
 * `sigma-sweep status`: a sweep's progress (tasks by state, ETA), device-seconds so far, live
 * agents from the NATS registry (best effort) and dead tasks with their reasons.
 */
import type { Command } from 'commander';
import { connectNats } from '../../protocol/nats.ts';
import { names } from '../../protocol/names.ts';
import { liveAgents } from '../agents-registry.ts';
import { sweepCounts } from '../orchestrate.ts';
import { progressLine } from '../progress.ts';
import {
  natsOptions,
  natsSettings,
  resolveSweepId,
  storeOptions,
  withStore,
  type CommandContext,
  type NatsFlags,
  type StoreFlags,
} from './options.ts';

export function statusCommand(program: Command, { out, log }: CommandContext): void {
  natsOptions(
    storeOptions(
      program
        .command('status')
        .description('Show a sweep\'s progress: tasks by state, ETA, live agents, dead tasks with reasons, GPU-seconds so far.')
        .option('--sweep <id>', 'sweep id or name (default: the latest sweep)')
        .option('--no-agents', 'do not contact NATS for the agent registry'),
    ),
  ).action(async (flags: StoreFlags & NatsFlags & { sweep?: string; agents: boolean }) => {
    await withStore(flags, log(), async (store) => {
      const id = await resolveSweepId(store, flags.sweep);
      const c = await sweepCounts(store, id);
      const frac = c.total ? c.done / c.total : 0;
      const secs = c.counts.reduce((a, x) => a + x.seconds, 0);
      const elapsed = c.started && c.lastFinished ? (Date.parse(c.lastFinished) - Date.parse(c.started)) / 1000 : 0;
      const eta = frac > 0 && frac < 1 && elapsed > 0 ? (elapsed / frac) * (1 - frac) : null;
      out(`sweep ${id}\n`);
      out(`${progressLine(c.done, c.total, eta)}\n`);
      out(`by state: ${c.counts.map((x) => `${x.status} ${x.n}`).join(', ') || 'none'}\n`);
      out(`device-seconds so far: ${secs.toFixed(1)}\n`);
      if (flags.agents) {
        // best effort: an embedded sweep has no NATS, and status must still work
        const nc = await connectNats(natsSettings(flags)).catch((e: Error) => {
          out(`live agents: unknown (NATS unreachable: ${e.message})\n`);
          return null;
        });
        if (nc) {
          try {
            const agents = await liveAgents(nc, names(flags.ns));
            out(`live agents: ${agents.length}\n`);
            for (const a of agents) {
              const running = a.tasks.map((t) => t.key.slice(0, 8)).join(',') || '-';
              out(`  ${a.id} ${a.host} ${a.backend} ${a.device} slots=${a.slots} running=${running}\n`);
            }
          } finally {
            await nc.close();
          }
        }
      }
      if (c.dead.length) {
        out(`dead tasks: ${c.dead.length}\n`);
        for (const d of c.dead) out(`  ${d.taskKey} ${d.reason}\n`);
      }
    });
  });
}
