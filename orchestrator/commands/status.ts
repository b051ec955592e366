/**
 * `sigma-sweep status`: a sweep's progress (tasks by state, ETA), device-seconds so far, live
 * agents from the NATS registry (best effort), what is stuck and why (tasks whose agent is gone and
 * wait for redelivery, interrupted embedded runs, results waiting in NATS with no ingester
 * pulling) and dead tasks with their reasons. It never shows an ETA for work nobody is doing.
 */
import type { Command } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../../protocol/nats.ts';
import { names } from '../../protocol/names.ts';
import type { AgentRecord } from '../../schema/wire.ts';
import { liveAgents } from '../agents-registry.ts';
import { ingestBacklog, type IngestBacklog } from '../nats/backlog.ts';
import { describeLaunch, readLaunch, type LaunchRecord } from '../launches.ts';
import { sweepCounts } from '../orchestrate.ts';
import { progressLine } from '../progress.ts';
import type { Store } from '../db/store.ts';
import {
  natsOptions,
  natsSettings,
  READ_ONLY,
  resolveSweepId,
  storeOptions,
  withStore,
  type CommandContext,
  type NatsFlags,
  type StoreFlags,
} from './options.ts';

interface NatsView {
  agents: AgentRecord[];
  backlog: IngestBacklog | null;
  /** what `launch` started for the sweep: its Job's pods or local processes */
  launch: LaunchRecord | null;
}

/** Agents and ingest backlog from NATS, or the reason NATS could not be asked. */
async function askNats(flags: NatsFlags, sweepId: string): Promise<NatsView | string> {
  let nc: NatsConnection;
  try {
    nc = await connectNats({ ...natsSettings(flags) });
  } catch (e) {
    return `NATS unreachable: ${(e as Error).message}`;
  }
  try {
    const n = names(flags.ns);
    return { agents: await liveAgents(nc, n), backlog: await ingestBacklog(nc, n), launch: await readLaunch(nc, n, sweepId) };
  } finally {
    await nc.close();
  }
}

/** In-flight tasks nobody is working on: embedded runs that stopped, or agents that are gone. */
async function stuckTasks(store: Store, sweepId: string, agents: AgentRecord[] | null) {
  const inFlight = await store.tasks.inFlight(sweepId);
  const held = new Set(agents?.flatMap((a) => a.tasks.map((t) => t.key)) ?? []);
  // we hold the embedded data dir's lock: no run is using it, so its "running" tasks were interrupted
  const interrupted = store.kind === 'pglite' ? inFlight.filter((t) => t.status === 'running' && t.agent === 'embedded') : [];
  const orphaned = agents ? inFlight.filter((t) => t.status === 'running' && t.agent !== 'embedded' && !held.has(t.key)) : [];
  return { interrupted, orphaned, running: inFlight.filter((t) => t.status === 'running').length };
}

export function statusCommand(program: Command, { out, log }: CommandContext): void {
  natsOptions(
    storeOptions(
      program
        .command('status')
        .description('Show a sweep\'s progress: tasks by state, ETA, live agents, stuck tasks and waiting results, dead tasks with reasons, device-seconds so far.')
        .option('--sweep <id>', 'sweep id or name (default: the latest sweep)')
        .option('--no-agents', 'do not contact NATS for the agent registry'),
    ),
  ).action(async (flags: StoreFlags & NatsFlags & { sweep?: string; agents: boolean }) => {
    await withStore(
      flags,
      log(),
      async (store) => {
        const id = await resolveSweepId(store, flags.sweep);
        const c = await sweepCounts(store, id);
        // best effort: an embedded sweep has no NATS, and status must still work
        const nats = flags.agents ? await askNats(flags, id) : null;
        const view = typeof nats === 'object' ? nats : null;
        const stuck = await stuckTasks(store, id, view?.agents ?? null);

        const frac = c.total ? c.done / c.total : 0;
        const secs = c.counts.reduce((a, x) => a + x.seconds, 0);
        const elapsed = c.started && c.lastFinished ? (Date.parse(c.lastFinished) - Date.parse(c.started)) / 1000 : 0;
        // an ETA only while the remaining work is being done
        const working = stuck.running > stuck.interrupted.length + stuck.orphaned.length && (view === null || view.agents.length > 0);
        const eta = working && frac > 0 && frac < 1 && elapsed > 0 ? (elapsed / frac) * (1 - frac) : null;
        out(`sweep ${id}\n`);
        out(`${progressLine(c.done, c.total, eta)}\n`);
        out(`by state: ${c.counts.map((x) => `${x.status} ${x.n}`).join(', ') || 'none'}\n`);
        out(`device-seconds so far: ${secs.toFixed(1)}\n`);
        if (stuck.interrupted.length) {
          out(`interrupted: ${stuck.interrupted.length} task(s) of an embedded run that stopped before finishing them; \`sigma-sweep run\` with the same spec resumes them\n`);
        }
        if (typeof nats === 'string') out(`live agents: unknown (${nats})\n`);
        if (view) {
          out(`live agents: ${view.agents.length}\n`);
          for (const a of view.agents) {
            const running = a.tasks.map((t) => t.key.slice(0, 8)).join(',') || '-';
            const seen = Math.max(0, Math.round((Date.now() - Date.parse(a.updatedAt)) / 1000));
            out(`  ${a.id} ${a.host} ${a.backend} ${a.device} slots=${a.slots} running=${running} last heartbeat ${seen}s ago\n`);
          }
          if (stuck.orphaned.length) {
            out(`waiting for redelivery: ${stuck.orphaned.length} task(s) whose agent is gone (JetStream redelivers them after the ack wait)\n`);
          }
          if (view.launch) for (const line of describeLaunch(view.launch)) out(`${line}\n`);
          const b = view.backlog;
          if (b && b.pending + b.inFlight > 0) {
            out(`results waiting in NATS: ${b.pending + b.inFlight} message(s)${b.ingesterPulling ? ' (an ingester is storing them)' : '; no ingester is running: start `sigma-sweep orchestrate` (or `submit --wait`) to store them'}\n`);
          }
        }
        if (c.dead.length) {
          out(`dead tasks: ${c.dead.length}\n`);
          for (const d of c.dead) out(`  ${d.taskKey} ${d.reason}\n`);
        }
      },
      READ_ONLY,
    );
  });
}
