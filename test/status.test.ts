/**
 * `status` tells what is stuck instead of showing an ETA for work nobody does: an embedded run that
 * was killed (its tasks stay "running" in the database), tasks whose agent is gone (waiting for
 * JetStream's redelivery), and results waiting in NATS with no ingester running.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { AGENT_STALE_MS, liveAgents } from '../orchestrator/agents-registry.ts';
import { main } from '../orchestrator/cli.ts';
import { Store } from '../orchestrator/db/store.ts';
import { ensureStreams, tuningFor } from '../orchestrator/nats/streams.ts';
import { planSweep } from '../orchestrator/planner.ts';
import { names } from '../protocol/names.ts';
import type { TaskResult } from '../schema/wire.ts';
import { createTempDatabase } from './helpers/pg.ts';
import { SHARED_NATS, dropNamespace, freshNamespace } from './helpers/nats.ts';
import { tinySweep } from './helpers/dist-spec.ts';
import { writeSpec } from './helpers/zoo.ts';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

async function status(args: string[]): Promise<{ code: number; out: string }> {
  const out: string[] = [];
  const code = await main(['node', 'sigma-sweep', 'status', ...args], (s) => out.push(s));
  return { code, out: out.join('') };
}

/** A sweep of 4 one-task shards recorded in `store`: 2 done (with results), 2 marked running by `agent`. */
async function halfDoneSweep(store: Store, agent: string) {
  const plan = planSweep(tinySweep('stuck', 4, 2));
  await store.sweeps.upsert(plan.sweepId, 'stuck', {});
  await store.tasks.upsert(plan.tasks);
  const [a, b, c, d] = plan.tasks;
  for (const t of [a, b]) {
    await store.tasks.markRunning(t.key, agent);
    const r: TaskResult = {
      taskKey: t.key,
      attempt: 1,
      agent,
      backend: 'cpu',
      device: 'test',
      startedAt: new Date(Date.now() - 20_000).toISOString(),
      finishedAt: new Date(Date.now() - 10_000).toISOString(),
      samples: t.sampleIndices.map((i) => ({ datasetIndex: i, label: 1, cleanPred: 1, advPred: 2, success: true, l0: 1, l1: 1, l2: 1, linf: 1, pertIndices: [0], pertValues: [1] })),
      batches: [{ batchIndex: 0, size: t.sampleIndices.length, seconds: 1, forwards: 1, backwards: 1, peakBytesLogical: 1, peakBytesDevice: null }],
    };
    await store.results.record(r);
  }
  for (const t of [c, d]) await store.tasks.markRunning(t.key, agent);
  return plan;
}

describe('status during faults', () => {
  it('an embedded run killed halfway: its tasks show as interrupted, with no ETA', async () => {
    const { dir } = writeSpec('sigma-status-', ['name: x']);
    const dataDir = path.join(dir, 'data');
    const store = await Store.open({ dataDir });
    await halfDoneSweep(store, 'embedded');
    await store.close(); // as if the run had been killed: the lock is free, two tasks stay "running"
    const r = await status(['--data-dir', dataDir, '--no-agents']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/2\/4 tasks done \(50\.0%\)\n/); // no ", ETA …"
    expect(r.out).toMatch(/interrupted: 2 task\(s\) of an embedded run that stopped/);
  });

  it('distributed: tasks of a vanished agent wait for redelivery; results waiting in NATS with no ingester are named', async () => {
    const db = await createTempDatabase();
    const ns = freshNamespace('status');
    const n = names(ns);
    const nc = await connect({ servers: SHARED_NATS });
    cleanups.push(async () => {
      await nc.close();
      await dropNamespace(SHARED_NATS, ns);
      await db.drop();
    });
    const store = await Store.open({ databaseUrl: db.url });
    const plan = await halfDoneSweep(store, 'ghost-agent');
    await store.close();
    await ensureStreams(nc, n, tuningFor(60_000));
    // one result message that nobody ingests
    await jetstream(nc).publish(n.resultSubject(plan.sweepId), JSON.stringify({ kind: 'failure', sweepId: plan.sweepId, taskKey: plan.tasks[2].key, attempt: 1, agent: 'ghost-agent', permanent: false, reason: 'x' }));
    const r = await status(['--db', db.url, '--nats', SHARED_NATS, '--ns', ns]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/2\/4 tasks done \(50\.0%\)\n/); // no ETA: nobody is working on the rest
    expect(r.out).toMatch(/live agents: 0\n/);
    expect(r.out).toMatch(/waiting for redelivery: 2 task\(s\) whose agent is gone/);
    expect(r.out).toMatch(/results waiting in NATS: 1 message\(s\); no ingester is running/);
  });

  it('an agent that missed three heartbeats is not live, even while its registry entry has not expired', async () => {
    const ns = freshNamespace('stale');
    const n = names(ns);
    const nc = await connect({ servers: SHARED_NATS });
    cleanups.push(async () => {
      await nc.close();
      await dropNamespace(SHARED_NATS, ns);
    });
    const kv = await new Kvm(nc).create(n.agentsKv, { ttl: 30_000 });
    const record = (id: string, ageMs: number) =>
      JSON.stringify({ id, host: 'h', pid: 1, backend: 'wasm', device: 'cpu', slots: 1, tasks: [], updatedAt: new Date(Date.now() - ageMs).toISOString() });
    await kv.put('fresh', record('fresh', 1_000));
    await kv.put('killed', record('killed', AGENT_STALE_MS + 2_000)); // SIGKILLed: no more beats, entry still there
    expect(AGENT_STALE_MS).toBeLessThan(30_000);
    expect((await liveAgents(nc, n)).map((a) => a.id)).toEqual(['fresh']);
  });
});
