/**
 * The orchestrator loop for distributed sweeps: runs the ingester and, every few seconds, checks
 * progress and stragglers. A straggler (most of the sweep done, and a task running far longer than
 * its finished peers) gets at most one speculative copy, published with a distinct message id;
 * the first result wins (the ingester drops the later one).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { startIngester, type IngesterStats } from './ingest.ts';
import { DbHealth } from './db/errors.ts';
import { liveAgents } from './agents-registry.ts';
import { publishTasks } from './submit.ts';
import type { Names } from '../protocol/names.ts';
import type { Store } from './db/store.ts';
import type { Logger } from '../protocol/log.ts';

export interface OrchestrateOptions {
  sweepId?: string;
  /** return once the sweep has no queued/running/planned task left */
  untilDone?: boolean;
  log: Logger;
  pollMs?: number;
  /** straggler rule: running > factor × median finished task seconds, once doneFraction is reached */
  stragglerFactor?: number;
  stragglerMinSeconds?: number;
  stragglerDoneFraction?: number;
  /** how often to look for stragglers (reads the agent registry) */
  stragglerEveryMs?: number;
  onPoll?: (s: { done: number; total: number; dead: number }) => void;
  signal?: AbortSignal;
}

export async function sweepCounts(store: Store, sweepId: string) {
  const st = await store.reports.progress(sweepId);
  const by = Object.fromEntries(st.counts.map((c) => [c.status, c.n])) as Record<string, number>;
  const total = st.counts.reduce((a, c) => a + c.n, 0);
  return { ...st, by, total, done: by.done ?? 0, deadCount: by.dead ?? 0 };
}

export async function orchestrate(nc: NatsConnection, n: Names, store: Store, opts: OrchestrateOptions): Promise<IngesterStats> {
  const health = new DbHealth(opts.log); // one state-change line per outage for both users of the store
  const ingester = startIngester(nc, n, store, opts.log, undefined, health);
  const speculated = new Set<string>();
  let lastStragglerCheck = 0;
  try {
    for (;;) {
      if (opts.signal?.aborted) break;
      await sleep(opts.pollMs ?? 1000);
      if (!opts.sweepId) continue;
      let c;
      try {
        c = await sweepCounts(store, opts.sweepId);
        health.ok();
      } catch (e) {
        health.failed(e, 'reading progress');
        continue;
      }
      opts.onPoll?.({ done: c.done, total: c.total, dead: c.deadCount });
      if (opts.untilDone && c.total > 0 && c.done + c.deadCount >= c.total) break;

      // stragglers
      if (Date.now() - lastStragglerCheck < (opts.stragglerEveryMs ?? 5000)) continue;
      lastStragglerCheck = Date.now();
      if (c.total > 0 && c.done / c.total >= (opts.stragglerDoneFraction ?? 0.8)) {
        // a store or NATS hiccup skips this check (the next one tries again) instead of ending the loop
        await speculateStragglers(nc, n, store, opts, opts.sweepId, speculated).catch((e) => health.failed(e, 'checking stragglers'));
      }
    }
  } finally {
    await ingester.stop();
  }
  return ingester.stats;
}

/** Publish one speculative copy of each task running far longer than its sweep's median. */
async function speculateStragglers(nc: NatsConnection, n: Names, store: Store, opts: OrchestrateOptions, sweepId: string, speculated: Set<string>): Promise<void> {
  const median = await store.tasks.medianSeconds(sweepId);
  if (median == null) return;
  const limit = Math.max((opts.stragglerFactor ?? 3) * median, opts.stragglerMinSeconds ?? 30);
  for (const agent of await liveAgents(nc, n)) {
    for (const t of agent.tasks) {
      const running = (Date.now() - Date.parse(t.startedAt)) / 1000;
      if (t.sweepId !== sweepId || speculated.has(t.key) || running <= limit) continue;
      if (await store.tasks.isComplete(t.key)) continue;
      const task = await store.tasks.get(t.key);
      if (!task) continue;
      speculated.add(t.key);
      await publishTasks(nc, n, store, [task], () => 'speculative');
      opts.log.info('straggler: published one speculative copy', { task: t.key, agent: agent.id, runningSeconds: Math.round(running), medianSeconds: median });
    }
  }
}
