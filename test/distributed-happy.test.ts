/**
 * Distributed happy path against the real NATS JetStream (127.0.0.1:4222, a fresh namespace) and
 * the real PostgreSQL (a throw-away database): 40 tasks, 3 agent processes, the orchestrator's
 * ingester in this process. Every planned (task, sample) row is there exactly once and the table
 * equals the embedded run's (time and memory aside, which are measurements, not results).
 * Then: resubmitting the finished sweep publishes nothing.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Store } from '../orchestrator/db/store.ts';
import { tuningFor } from '../orchestrator/nats/streams.ts';
import { names } from '../protocol/names.ts';
import { submitSweep } from '../orchestrator/submit.ts';
import { orchestrate } from '../orchestrator/orchestrate.ts';
import { runEmbedded } from '../orchestrator/embedded.ts';
import { createLogger } from '../protocol/log.ts';
import { createTempDatabase } from './helpers/pg.ts';
import { SHARED_NATS, dropNamespace, freshNamespace, spawnAgent, stopAgents, type AgentProc } from './helpers/nats.ts';
import { tinySweep } from './helpers/dist-spec.ts';

const log = createLogger({ level: 'warn' });
const ns = freshNamespace('happy');
let db: Awaited<ReturnType<typeof createTempDatabase>>;
let store: Store;
let nc: NatsConnection;
const agents: AgentProc[] = [];

beforeAll(async () => {
  db = await createTempDatabase();
  store = await Store.open({ databaseUrl: db.url });
  nc = await connect({ servers: SHARED_NATS });
});

afterAll(async () => {
  await stopAgents(agents);
  await nc?.close();
  await store?.close();
  await dropNamespace(SHARED_NATS, ns);
  await db?.drop();
});

const comparable = (rows: Awaited<ReturnType<Store['reports']['summary']>>) =>
  rows.map((r) => ({ attack: r.attack, model: r.model, steps: r.steps, n: r.n, asr10: r.asr10, asr50: r.asr50, asrInf: r.asrInf, median: r.medianL0, q: r.queriesPerSample }));

describe('distributed sweep (NATS JetStream + PostgreSQL)', () => {
  it('40 tasks over 3 agents: every row once, same table as the embedded run', async () => {
    const spec = tinySweep('happy', 40, 4);
    const n = names(ns);
    const sub = await submitSweep(spec, store, nc, n, { tuning: tuningFor(20_000) });
    expect(sub.published).toBe(40);
    for (let i = 0; i < 3; i++) agents.push(spawnAgent(SHARED_NATS, ns, ['--id', `happy-${i}`]));
    await orchestrate(nc, n, store, { sweepId: sub.sweepId, untilDone: true, log, pollMs: 300 });

    const { rows } = await store.reports.query(`select count(*)::int as n, count(distinct (task_key, dataset_index))::int as d from sample_results r join tasks t on t.key = r.task_key where t.sweep_id = '${sub.sweepId}'`);
    expect(rows[0]).toEqual({ n: 40, d: 40 });
    const { rows: st } = await store.reports.query(`select status, count(*)::int as n from tasks where sweep_id = '${sub.sweepId}' group by status`);
    expect(st).toEqual([{ status: 'done', n: 40 }]);
    // more than one agent did work
    const { rows: byAgent } = await store.reports.query(`select count(distinct agent)::int as a from tasks where sweep_id = '${sub.sweepId}'`);
    expect(byAgent[0].a).toBeGreaterThan(1);

    const embedded = await Store.open({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'sigma-emb-')) });
    try {
      const rep = await runEmbedded(spec, embedded, { log, progress: false, backend: 'wasm' });
      expect(rep.sweepId).toBe(sub.sweepId);
      expect(comparable(await store.reports.summary(sub.sweepId))).toEqual(comparable(await embedded.reports.summary(rep.sweepId)));
    } finally {
      await embedded.close();
    }
  });

  it('an agent with 2 slots spreads one task\'s batches over both, with the per-sample results of a 1-slot embedded run', async () => {
    await stopAgents(agents.splice(0)); // only the 2-slot agent may take this task
    const spec = tinySweep('slots', 8, 6, { batchSize: 2, shardSize: 8 }); // one task, four batches
    const n = names(ns);
    const sub = await submitSweep(spec, store, nc, n, { tuning: tuningFor(20_000) });
    expect(sub.published).toBe(1);
    agents.push(spawnAgent(SHARED_NATS, ns, ['--id', 'two-slots', '--slots', '2']));
    await orchestrate(nc, n, store, { sweepId: sub.sweepId, untilDone: true, log, pollMs: 300 });
    const perSample = async (s: Store, sweep: string) =>
      (await s.reports.query(`select r.dataset_index, r.l0, r.adv_pred, r.success from sample_results r join tasks t on t.key = r.task_key where t.sweep_id = '${sweep}' order by 1`)).rows;
    const { rows: batches } = await store.reports.query(`select b.batch_index, b.size from batch_metrics b join tasks t on t.key = b.task_key where t.sweep_id = '${sub.sweepId}' order by 1`);
    expect(batches).toEqual([0, 1, 2, 3].map((i) => ({ batch_index: i, size: 2 })));
    const { rows: by } = await store.reports.query(`select agent from tasks where sweep_id = '${sub.sweepId}'`);
    expect(by).toEqual([{ agent: expect.stringContaining('two-slots') }]);

    const embedded = await Store.open({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'sigma-emb-')) });
    try {
      const rep = await runEmbedded(spec, embedded, { log, progress: false, backend: 'wasm', slots: 1 });
      const dist = await perSample(store, sub.sweepId);
      expect(dist).toHaveLength(8);
      expect(dist).toEqual(await perSample(embedded, rep.sweepId));
    } finally {
      await embedded.close();
    }
  });

  it('resubmitting the finished sweep publishes nothing', async () => {
    const again = await submitSweep(tinySweep('happy', 40, 4), store, nc, names(ns), { tuning: tuningFor(20_000) });
    expect(again.published).toBe(0);
    expect(again.complete).toBe(40);
  });
});
