/**
 * npm run bench:queue — orchestration overhead and ingest rate, measured side by side in one run.
 *
 * 1. Ingest: per-sample rows written through the ingester's path (Store.recordResult, one
 *    transaction per result message, upserts) versus the raw ceiling of this machine: COPY of the
 *    same rows into the same table. Prints rows/s for both and the ratio.
 * 2. Orchestration: tasks with the no-op attack (1 sample each) published to JetStream, run by 1,
 *    4 and 16 agent processes, results ingested into PostgreSQL; prints wall time per task from
 *    first publish to last ingested row, and the same minus the agents' own in-task seconds.
 *
 * Uses the PostgreSQL (127.0.0.1:5432) and NATS (127.0.0.1:4222) of this machine, in a throw-away
 * database and namespace. Flags: --tasks N (default 400), --rows N (default 50000).
 */
import { parseArgs } from 'node:util';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { connect } from '@nats-io/transport-node';
import { Store } from '../orchestrator/db/store.ts';
import { ensureStreams, tuningFor } from '../orchestrator/nats/streams.ts';
import { names } from '../protocol/names.ts';
import { startIngester } from '../orchestrator/ingest.ts';
import { jetstream } from '@nats-io/jetstream';
import { submitSweep } from '../orchestrator/submit.ts';
import { orchestrate } from '../orchestrator/orchestrate.ts';
import { validateSpec } from '../orchestrator/spec.ts';
import { planSweep } from '../orchestrator/planner.ts';
import { createLogger } from '../protocol/log.ts';
import { liveAgents } from '../orchestrator/agents-registry.ts';
import { createTempDatabase } from '../test/helpers/pg.ts';
import { dropNamespace, freshNamespace, spawnAgent, stopAgents, SHARED_NATS } from '../test/helpers/nats.ts';
import type { TaskResult } from '../schema/wire.ts';

const { values } = parseArgs({ options: { tasks: { type: 'string', default: '400' }, rows: { type: 'string', default: '50000' } } });
const TASKS = Number(values.tasks);
const ROWS = Number(values.rows);
const log = createLogger({ level: 'error' });
const fmt = (v: number, d = 1) => v.toFixed(d);

async function ingestBench(): Promise<void> {
  const db = await createTempDatabase();
  const store = await Store.open({ databaseUrl: db.url });
  try {
    const perTask = 100;
    const nTasks = Math.ceil(ROWS / perTask);
    const spec = validateSpec(
      { name: 'ingest', datasets: [{ name: 'mnist', samples: { first: Math.min(10000, nTasks * perTask) } }], models: ['mnist-smallcnn'], attacks: ['noop'], steps: [1], shardSize: perTask },
      'ingest.yaml',
      process.cwd(),
    );
    const plan = planSweep(spec);
    const tasks = [...plan.tasks];
    // more rows than the test set: reuse shards under other attack labels
    for (let rep = 1; tasks.length < nTasks; rep++) {
      for (const t of plan.tasks) tasks.push({ ...t, key: `${t.key.slice(0, 24)}${String(rep).padStart(8, '0')}`, attack: { ...t.attack, label: `noop-${rep}` } });
    }
    tasks.length = nTasks;
    await store.sweeps.upsert(plan.sweepId, spec.name, spec);
    await store.tasks.upsert(tasks);
    const results: TaskResult[] = tasks.map((t) => ({
      taskKey: t.key,
      attempt: 1,
      agent: 'bench',
      backend: 'wasm',
      device: 'cpu',
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
      samples: t.sampleIndices.map((i) => {
        const l0 = 10 + (i % 20);
        return { datasetIndex: i, label: 1, cleanPred: 1, advPred: 2, success: true, l0, l1: l0 * 0.5, l2: 1, linf: 1, pertIndices: Array.from({ length: l0 }, (_, j) => j * 7), pertValues: Array.from({ length: l0 }, () => 0.5) };
      }),
      batches: [{ batchIndex: 0, size: t.sampleIndices.length, seconds: 1, forwards: 1, backwards: 1, peakBytesLogical: 1, peakBytesDevice: null }],
    }));
    const rows = results.reduce((a, r) => a + r.samples.length, 0);

    // the ingester's real path: result messages on the RESULTS stream → startIngester → PostgreSQL
    const ns = freshNamespace('ingest');
    const n = names(ns);
    const nc = await connect({ servers: SHARED_NATS });
    await ensureStreams(nc, n, tuningFor(60_000));
    const js = jetstream(nc);
    await Promise.all(results.map((r) => js.publish(n.resultSubject(plan.sweepId), JSON.stringify({ ...r, kind: 'result', sweepId: plan.sweepId }))));
    let t0 = performance.now();
    const ing = startIngester(nc, n, store, log);
    while (ing.stats.results < results.length) await new Promise((r) => setTimeout(r, 5));
    const ingestSec = (performance.now() - t0) / 1000;
    await ing.stop();
    await nc.close();
    await dropNamespace(SHARED_NATS, ns);

    // raw ceiling: COPY the same rows into the same table (after emptying it)
    await store.reports.query('truncate sample_results');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const arr = (a: number[]) => `{${a.join(',')}}`;
    const lines = function* () {
      for (const r of results) for (const s of r.samples) {
        yield `${r.taskKey}\t${s.datasetIndex}\t${s.label}\t${s.cleanPred}\t${s.advPred}\t${s.success ? 't' : 'f'}\t${s.l0}\t${s.l1}\t${s.l2}\t${s.linf}\t${arr(s.pertIndices)}\t${arr(s.pertValues)}\n`;
      }
    };
    t0 = performance.now();
    await pipeline(Readable.from(lines()), client.query(copyFrom('COPY sample_results (task_key, dataset_index, label, clean_pred, adv_pred, success, l0, l1, l2, linf, pert_indices, pert_values) FROM STDIN')));
    const copySec = (performance.now() - t0) / 1000;
    await client.end();
    console.log(`\n## Ingest (${rows} per-sample rows, ${results.length} result messages of ${perTask} samples)\n`);
    console.log('| path | seconds | rows/s |');
    console.log('|---|---:|---:|');
    console.log(`| ingester (NATS → one transaction per message, upserts, 4 in flight) | ${fmt(ingestSec, 2)} | ${fmt(rows / ingestSec, 0)} |`);
    console.log(`| raw ceiling (COPY into the same table) | ${fmt(copySec, 2)} | ${fmt(rows / copySec, 0)} |`);
    console.log(`\ningester / ceiling: ${fmt(ingestSec / copySec, 2)}× the time (goal ≤ 2×)`);
  } finally {
    await store.close();
    await db.drop();
  }
}

async function orchestrationBench(agentsCount: number): Promise<{ perTaskMs: number; computeMs: number }> {
  const db = await createTempDatabase();
  const store = await Store.open({ databaseUrl: db.url });
  const ns = freshNamespace('bench');
  const n = names(ns);
  const nc = await connect({ servers: SHARED_NATS });
  const agents = Array.from({ length: agentsCount }, (_, i) => spawnAgent(SHARED_NATS, ns, ['--id', `bench-${i}`]));
  try {
    // warm-up: every agent up and registered before the clock starts
    const spec = validateSpec(
      { name: `queue${agentsCount}`, datasets: [{ name: 'mnist', samples: { first: TASKS } }], models: ['mnist-smallcnn'], attacks: ['noop'], steps: [1], batchSize: 1, shardSize: 1 },
      'bench.yaml',
      process.cwd(),
    );
    // queue and consumers must exist before agents can register and pull
    await ensureStreams(nc, n, tuningFor(60_000));
    for (const end = Date.now() + 180_000; (await liveAgents(nc, n)).length < agentsCount; ) {
      if (Date.now() > end) throw new Error('agents did not come up');
      await new Promise((r) => setTimeout(r, 250));
    }
    process.stderr.write(`${agentsCount} agent(s) up\n`);
    const t0 = performance.now();
    const sub = await submitSweep(spec, store, nc, n, { tuning: tuningFor(60_000) });
    await orchestrate(nc, n, store, { sweepId: sub.sweepId, untilDone: true, log, pollMs: 20 });
    const wall = performance.now() - t0;
    const { rows } = await store.reports.query(`select coalesce(sum(seconds), 0)::float8 as s, count(*)::int as n from tasks where sweep_id = '${sub.sweepId}' and status = 'done'`);
    if (rows[0].n !== TASKS) throw new Error(`only ${rows[0].n}/${TASKS} tasks done`);
    return { perTaskMs: wall / TASKS, computeMs: (1000 * Number(rows[0].s)) / TASKS };
  } finally {
    await stopAgents(agents);
    await nc.close();
    await store.close();
    await dropNamespace(SHARED_NATS, ns);
    await db.drop();
  }
}

console.log(`# bench:queue (${new Date().toISOString()}, ${(await import('node:os')).cpus().length} cores)`);
if (process.env.BENCH_SKIP_INGEST !== '1') await ingestBench();
console.log(`\n## Orchestration overhead (no-op attack, ${TASKS} one-sample tasks; publish → agent → result → ingested row)\n`);
console.log('| agents | wall ms / task | in-task compute ms / task (summed over agents) |');
console.log('|---:|---:|---:|');
for (const k of (process.env.BENCH_AGENTS ?? '1,4,16').split(',').filter(Boolean).map(Number)) {
  const r = await orchestrationBench(k);
  console.log(`| ${k} | ${fmt(r.perTaskMs, 2)} | ${fmt(r.computeMs, 2)} |`);
}
console.log('\nGoal: under 5 ms per task at 16 agents.');
