/**
 * Distributed sweeps under faults, on a private nats-server (JetStream, random port, so it can be
 * restarted) and the real PostgreSQL. Each scenario ends with the complete, duplicate-free result
 * set: agent SIGKILLed mid-batch (redelivered after ack_wait), SIGTERM drain, NATS restarted
 * mid-sweep, PostgreSQL refusing connections for a while, the same task delivered twice, poison
 * tasks ending in dead_tasks with their reason (and the max-deliveries path), and resubmission
 * publishing exactly the missing tasks.
 */
import { copyFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Store } from '../orchestrator/db/store.ts';
import { tuningFor } from '../orchestrator/nats/streams.ts';
import { names, type Names } from '../protocol/names.ts';
import { submitSweep, publishTasks } from '../orchestrator/submit.ts';
import { orchestrate } from '../orchestrator/orchestrate.ts';
import { startIngester } from '../orchestrator/ingest.ts';
import { planSweep } from '../orchestrator/planner.ts';
import { validateSpec } from '../orchestrator/spec.ts';
import { createLogger } from '../protocol/log.ts';
import { zooModel } from '../agent/models/zoo.ts';
import { PG_ADMIN_URL } from './helpers/pg.ts';
import { freshNamespace, spawnAgent, stopAgents, type AgentProc, type PrivateNats } from './helpers/nats.ts';
import { tinySweep } from './helpers/dist-spec.ts';
import { tcpProxy } from './helpers/tcp-proxy.ts';
import { rowsOf as sweepRows } from './helpers/sweep-rows.ts';
import { closeFaultEnv, openFaultEnv, type FaultEnv } from './helpers/fault-env.ts';

const log = createLogger({ level: 'error' });
let nats: PrivateNats;
let db: FaultEnv['db'];
let store: Store;
let nc: NatsConnection;
let agents: AgentProc[] = [];
const ACK_WAIT = 3000;

beforeAll(async () => {
  ({ nats, db, store, nc } = await openFaultEnv());
});

afterEach(async () => {
  await stopAgents(agents);
  agents = [];
});

afterAll(() => closeFaultEnv({ nats, db, store, nc }));

const rowsOf = (sweepId: string) => sweepRows(store, sweepId);

async function runToEnd(n: Names, sweepId: string, timeoutMs = 120_000) {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), timeoutMs);
  try {
    return await orchestrate(nc, n, store, { sweepId, untilDone: true, log, pollMs: 300, signal: ac.signal });
  } finally {
    clearTimeout(t);
  }
}

async function runToEndWith(n: Names, sweepId: string, extra: Partial<Parameters<typeof orchestrate>[3]>) {
  return orchestrate(nc, n, store, { sweepId, untilDone: true, log, pollMs: 200, ...extra });
}

describe('distributed sweeps under faults', () => {
  it('an agent SIGKILLed mid-batch: the task is redelivered after ack_wait and completed once', async () => {
    const n = names(freshNamespace('kill'));
    const spec = tinySweep('kill', 3, 400);
    const sub = await submitSweep(spec, store, nc, n, { tuning: tuningFor(ACK_WAIT) });
    const victim = spawnAgent(nats.url, n.ns, ['--id', 'victim']);
    agents.push(victim);
    await victim.waitFor(/task started/);
    await new Promise((r) => setTimeout(r, 700));
    victim.proc.kill('SIGKILL');
    await victim.exited;
    agents.push(spawnAgent(nats.url, n.ns, ['--id', 'rescuer']));
    await runToEnd(n, sub.sweepId);
    expect(await rowsOf(sub.sweepId)).toEqual({ n: 3, d: 3, status: { done: 3 } });
    const { rows } = await store.reports.query(`select max(attempts)::int as a from tasks where sweep_id = '${sub.sweepId}'`);
    expect(rows[0].a).toBeGreaterThanOrEqual(2);
  });

  it('SIGTERM drains: the running task is handed back (short grace) and nothing is lost', async () => {
    const n = names(freshNamespace('term'));
    const sub = await submitSweep(tinySweep('term', 3, 400), store, nc, n, { tuning: tuningFor(ACK_WAIT * 10) });
    const a = spawnAgent(nats.url, n.ns, ['--id', 'drainer', '--drain-timeout', '0.5']);
    agents.push(a);
    await a.waitFor(/task started/);
    a.proc.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    expect(a.log()).toMatch(/handing the task back/);
    agents.push(spawnAgent(nats.url, n.ns, ['--id', 'after-drain']));
    await runToEnd(n, sub.sweepId);
    expect(await rowsOf(sub.sweepId)).toEqual({ n: 3, d: 3, status: { done: 3 } });
  });

  it('NATS restarted mid-sweep: agents and the ingester reconnect', async () => {
    const n = names(freshNamespace('restart'));
    const sub = await submitSweep(tinySweep('restart', 12, 60), store, nc, n, { tuning: tuningFor(ACK_WAIT) });
    agents.push(spawnAgent(nats.url, n.ns, ['--id', 'r1']), spawnAgent(nats.url, n.ns, ['--id', 'r2']));
    const done = runToEnd(n, sub.sweepId);
    await agents[0].waitFor(/task done/);
    await nats.stop();
    await new Promise((r) => setTimeout(r, 1500));
    await nats.start();
    await done;
    expect(await rowsOf(sub.sweepId)).toEqual({ n: 12, d: 12, status: { done: 12 } });
  });

  it('PostgreSQL refusing connections for a while: the ingester retries, nothing is acked before commit', async () => {
    const n = names(freshNamespace('pgcut'));
    const target = new URL(db.url);
    const proxy = await tcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    const flaky = await Store.open({ databaseUrl: viaProxy.toString() });
    try {
      const sub = await submitSweep(tinySweep('pgcut', 10, 40), store, nc, n, { tuning: tuningFor(ACK_WAIT) });
      await proxy.cut(); // the database goes away before any result arrives
      const ing = startIngester(nc, n, flaky, log);
      agents.push(spawnAgent(nats.url, n.ns, ['--id', 'pg1']));
      await agents[0].waitFor(/task done[\s\S]*task done/);
      await new Promise((r) => setTimeout(r, 1500));
      expect(ing.stats.results).toBe(0);
      expect(ing.stats.retries).toBeGreaterThan(0);
      await proxy.restore();
      const end = Date.now() + 90_000;
      while ((await rowsOf(sub.sweepId)).status.done !== 10 && Date.now() < end) await new Promise((r) => setTimeout(r, 300));
      await ing.stop();
      expect(await rowsOf(sub.sweepId)).toEqual({ n: 10, d: 10, status: { done: 10 } });
    } finally {
      await flaky.close().catch(() => {});
      await proxy.close();
    }
  });

  it('the same task delivered twice: stored once (first result wins)', async () => {
    const n = names(freshNamespace('dup'));
    const sub = await submitSweep(tinySweep('dup', 4, 20), store, nc, n, { tuning: tuningFor(ACK_WAIT) });
    const { tasks } = planSweep(tinySweep('dup', 4, 20));
    await publishTasks(nc, n, store, tasks, () => 'second-copy');
    agents.push(spawnAgent(nats.url, n.ns, ['--id', 'd1']), spawnAgent(nats.url, n.ns, ['--id', 'd2']));
    const ing = startIngester(nc, n, store, log);
    // both copies of every task run (8 'task done' across the agents); the second result of a task
    // is dropped, by JetStream's duplicate window (same result id) or by the ingester (first wins)
    const done = () => agents.map((a) => (a.log().match(/task done/g) ?? []).length).reduce((x, y) => x + y, 0);
    const end = Date.now() + 90_000;
    while ((done() < 8 || ing.stats.results < 4) && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 1000));
    await ing.stop();
    expect(done()).toBe(8);
    expect(ing.stats.results).toBe(4);
    expect(await rowsOf(sub.sweepId)).toEqual({ n: 4, d: 4, status: { done: 4 } });
  });

  it('the ingester keeps the first complete result of a task and drops later copies', async () => {
    const spec = tinySweep('firstwins', 1, 3);
    const { sweepId, tasks } = planSweep(spec);
    await store.sweeps.upsert(sweepId, spec.name, spec);
    await store.tasks.upsert(tasks);
    const t = tasks[0];
    const result = (attempt: number, l0: number) => ({
      kind: 'result', sweepId, taskKey: t.key, part: 0, parts: 1, attempt, agent: `a${attempt}`, backend: 'wasm', device: 'cpu',
      startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(),
      samples: [{ datasetIndex: 0, label: 7, cleanPred: 7, advPred: 3, success: true, l0, l1: l0, l2: l0, linf: 1, pertIndices: Array.from({ length: l0 }, (_, i) => i), pertValues: Array.from({ length: l0 }, () => 1) }],
      batches: [{ batchIndex: 0, size: 1, seconds: 1, forwards: 3, backwards: 3, peakBytesLogical: 1, peakBytesDevice: null }],
    });
    const stats = { results: 0, duplicates: 0, failures: 0, dead: 0, retries: 0 };
    const enc = (v: unknown) => ({ data: new TextEncoder().encode(JSON.stringify(v)) });
    const { ingestMessage } = await import('../orchestrator/ingest.ts');
    await ingestMessage(store, enc(result(1, 5)), log, stats);
    await ingestMessage(store, enc(result(2, 9)), log, stats);
    expect(stats).toMatchObject({ results: 1, duplicates: 1 });
    const { rows } = await store.reports.query(`select l0, attempts, agent from sample_results r join tasks t on t.key = r.task_key where t.key = '${t.key}'`);
    expect(rows).toEqual([{ l0: 5, attempts: 1, agent: 'a1' }]);
  });

  it('poison tasks end in dead_tasks with their reason; resubmission publishes exactly the missing tasks', async () => {
    const n = names(freshNamespace('poison'));
    // a private copy of the zoo model, corrupted after planning (its sha256 no longer matches)
    const z = zooModel('mnist-smallcnn')!;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sigma-model-'));
    cpSync(z.dir, dir, { recursive: true });
    const raw = {
      name: 'poison',
      datasets: [{ name: 'mnist', samples: { first: 4 } }],
      models: ['mnist-smallcnn', { name: 'copy', path: dir, sha256: z.sha256 }],
      attacks: ['sigma-zero'],
      steps: [5],
      batchSize: 2,
      shardSize: 2,
    };
    const spec = validateSpec(raw, 'poison.yaml', process.cwd());
    const weights = path.join(dir, 'weights.bin');
    const good = readFileSync(weights);
    writeFileSync(weights, good.subarray(0, good.length - 8));
    const sub = await submitSweep(spec, store, nc, n, { tuning: tuningFor(ACK_WAIT) });
    expect(sub.published).toBe(4);
    // two more poison tasks that no spec can produce: an unknown attack and a shard outside the data
    const base = planSweep(spec).tasks[0];
    const bad = [
      { ...base, key: 'a0'.repeat(16), attack: { label: 'nope', name: 'nope', options: {} } },
      { ...base, key: 'b0'.repeat(16), sampleIndices: [20000] },
    ];
    await store.tasks.upsert(bad);
    await publishTasks(nc, n, store, bad);
    agents.push(spawnAgent(nats.url, n.ns, ['--id', 'p1']));
    await runToEnd(n, sub.sweepId);
    const st = await rowsOf(sub.sweepId);
    expect(st.status).toEqual({ dead: 4, done: 2 });
    const { rows: dead } = await store.reports.query(`select task_key, reason from dead_tasks where sweep_id = '${sub.sweepId}' order by task_key`);
    expect(dead).toHaveLength(4);
    const reasons = dead.map((d) => String(d.reason)).join('\n');
    expect(reasons).toMatch(/sha256 mismatch/);
    expect(reasons).toMatch(/unknown attack 'nope'/);
    expect(reasons).toMatch(/sample index 20000 is outside/);

    // repair the model and resubmit: exactly the two dead tasks of the spec are published again
    copyFileSync(path.join(z.dir, 'weights.bin'), weights);
    const again = await submitSweep(spec, store, nc, n, { tuning: tuningFor(ACK_WAIT) });
    expect(again.published).toBe(2);
    expect(again.complete).toBe(2);
    const end = Date.now() + 60_000;
    const ing = startIngester(nc, n, store, log);
    while ((await rowsOf(sub.sweepId)).status.done !== 4 && Date.now() < end) await new Promise((r) => setTimeout(r, 300));
    await ing.stop();
    expect((await rowsOf(sub.sweepId)).status.done).toBe(4);
  });

  it('a straggler gets one speculative copy; the first result wins', async () => {
    const n = names(freshNamespace('strag'));
    const spec = tinySweep('strag', 6, 3);
    const sub = await submitSweep(spec, store, nc, n, { tuning: tuningFor(30_000) });
    // one task far slower than its peers (6000 steps: seconds even on the ONNX Runtime engine, so the straggler check fires while it runs)
    const base = planSweep(spec).tasks[0];
    const slow = { ...base, key: 'c1'.repeat(16), sampleIndices: [50], steps: 6000, attack: { ...base.attack, options: { ...base.attack.options, steps: 6000 } } };
    await store.tasks.upsert([slow]);
    await publishTasks(nc, n, store, [slow]);
    agents.push(spawnAgent(nats.url, n.ns, ['--id', 's1']), spawnAgent(nats.url, n.ns, ['--id', 's2']));
    await runToEndWith(n, sub.sweepId, { stragglerFactor: 2, stragglerMinSeconds: 2, stragglerDoneFraction: 0.5, stragglerEveryMs: 300 });
    expect(await rowsOf(sub.sweepId)).toEqual({ n: 7, d: 7, status: { done: 7 } });
    const { rows } = await store.reports.query(`select publishes from tasks where key = '${slow.key}'`);
    expect(rows[0].publishes).toBe(2); // the original and exactly one speculative copy
    const ran = agents.map((a) => (a.log().match(new RegExp(`task started task=${slow.key}`, 'g')) ?? []).length).reduce((x, y) => x + y, 0);
    expect(ran).toBe(2);
  });

  it('a task no agent can finish is dead after max_deliver deliveries, with the last reason, and leaves the stream', async () => {
    const n = names(freshNamespace('maxdel'));
    const spec = tinySweep('maxdel', 1, 5);
    const sub = await submitSweep(spec, store, nc, n, { tuning: { ackWaitMs: 500, maxDeliver: 4, backoffMs: [300, 300, 300] } });
    const ing = startIngester(nc, n, store, log);
    // a broken agent: reports a transient failure and naks, every time
    const js = jetstream(nc);
    const consumer = await js.consumers.get(n.tasks, n.agentsConsumer);
    for (let i = 0; i < 4; i++) {
      const m = await consumer.next({ expires: 5000 });
      expect(m).not.toBeNull();
      const task = JSON.parse(new TextDecoder().decode(m!.data));
      await js.publish(n.resultSubject(sub.sweepId), JSON.stringify({ kind: 'failure', sweepId: sub.sweepId, taskKey: task.key, attempt: m!.info.deliveryCount, agent: 'broken', permanent: false, reason: 'GPU fell off the bus' }));
      m!.nak(100);
    }
    // the server declares max deliveries when it would deliver once more: some agent is always pulling
    expect(await consumer.next({ expires: 1500 })).toBeNull();
    const end = Date.now() + 20_000;
    while ((await rowsOf(sub.sweepId)).status.dead !== 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
    await ing.stop();
    const { rows } = await store.reports.query(`select reason, deliveries from dead_tasks where sweep_id = '${sub.sweepId}'`);
    expect(rows).toHaveLength(1);
    expect(String(rows[0].reason)).toMatch(/gave up after 4 deliveries: GPU fell off the bus/);
    const info = await (await import('@nats-io/jetstream')).jetstreamManager(nc).then((jsm) => jsm.streams.info(n.tasks));
    expect(info.state.messages).toBe(0);
  });
});
void PG_ADMIN_URL;
