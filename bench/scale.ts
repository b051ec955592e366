/**
 * npm run bench:scale — many agents pulling from one sweep, against the ideal.
 *
 * The work is the `sleep` attack (a timer per sample, no CPU), one sample per task, so the
 * machine's cores measure the queue, the agents' per-task overhead and the ingest, not attack
 * maths. Agents are `launch --local` processes (orchestrator/local-agents.ts), each running
 * `--slots` pull loops on as many tensor worker threads: "64 agents" are 64 concurrent task
 * consumers spread over --procs processes (default 8 × 8; one process per agent costs ~270 MB
 * each, too much for 64 on a small machine). The ingester (`orchestrate`) runs in this process.
 *
 * Timeline: streams set up → agents started and registered → one warm-up task per slot (each
 * tensor worker loads data and model on its first task; timed apart) → tasks published (t0) →
 * the sweep is done in PostgreSQL (t1). Wall = t1 − t0, ideal = tasks · seconds / agents,
 * efficiency = ideal / wall. Ingest lag: results waiting in NATS (sampled every second) and the
 * time from the last task's end to its row. Connections: NATS has no monitoring port here
 * (nats-server runs without -m), so the TCP connections to the NATS port are counted from `ss`,
 * only those of this process and its agents; PostgreSQL's from pg_stat_activity for the
 * benchmark's own database.
 *
 * Flags: --agents 64 --procs 8 --tasks 10000 --seconds 1 (quick: --agents 16 --procs 4 --tasks 500 --seconds 0.2)
 * Uses the PostgreSQL (127.0.0.1:5432) and NATS (127.0.0.1:4222) of this machine, in a throw-away
 * database and namespace.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { Store } from '../orchestrator/db/store.ts';
import { ensureStreams, tuningFor } from '../orchestrator/nats/streams.ts';
import { ingestBacklog, sweepTaskBacklog } from '../orchestrator/nats/backlog.ts';
import { submitSweep } from '../orchestrator/submit.ts';
import { orchestrate } from '../orchestrator/orchestrate.ts';
import { liveAgents } from '../orchestrator/agents-registry.ts';
import { LocalAgents } from '../orchestrator/local-agents.ts';
import { sweepProgress } from '../orchestrator/launch-progress.ts';
import { validateSpec } from '../orchestrator/spec.ts';
import { names } from '../protocol/names.ts';
import { createLogger } from '../protocol/log.ts';
import { createTempDatabase } from '../test/helpers/pg.ts';
import { dropNamespace, freshNamespace, SHARED_NATS } from '../test/helpers/nats.ts';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '64' },
    procs: { type: 'string', default: '8' },
    tasks: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '1' },
    'ack-wait': { type: 'string', default: '60' },
  },
});
const AGENTS = Number(values.agents);
const PROCS = Math.min(Number(values.procs), AGENTS);
const TASKS = Number(values.tasks);
const SECONDS = Number(values.seconds);
if (![AGENTS, PROCS, TASKS, SECONDS].every((v) => Number.isFinite(v) && v > 0) || AGENTS % PROCS !== 0) {
  throw new Error('--agents, --procs, --tasks, --seconds must be positive, and --agents a multiple of --procs');
}
const SLOTS = AGENTS / PROCS;
const log = createLogger({ level: 'warn' });
const fmt = (v: number, d = 1) => v.toFixed(d);
const MNIST_TEST = 10_000;

/** TCP connections to the NATS port held by these processes (from `ss -tnp`). */
function natsConnections(pids: number[]): number | null {
  const port = new URL(SHARED_NATS).port || '4222';
  try {
    const lines = execFileSync('ss', ['-Htnp', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' }).split('\n');
    const mine = new Set(pids.map(String));
    return lines.filter((l) => [...l.matchAll(/pid=(\d+)/g)].some((m) => mine.has(m[1]))).length;
  } catch {
    return null;
  }
}

/** The nats-server process listening on the NATS port, if it is on this machine and visible. */
function natsServerPid(): number | null {
  const port = new URL(SHARED_NATS).port || '4222';
  try {
    const out = execFileSync('ss', ['-Hltnp', `( sport = :${port} )`], { encoding: 'utf8' });
    const m = /pid=(\d+)/.exec(out);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The pids of the agent processes (children of this process). */
function childPids(): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })) || 100;

/** CPU seconds (user + system, threads included) of a process, from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS; // utime, stime
  } catch {
    return 0;
  }
}

const db = await createTempDatabase();
const store = await Store.open({ databaseUrl: db.url });
const ns = freshNamespace('scale');
const n = names(ns);
const nc = await connect({ servers: SHARED_NATS });
const admin = new pg.Client({ connectionString: db.url });
await admin.connect();
const dbName = new URL(db.url).pathname.slice(1);
let agents: LocalAgents | null = null;
try {
  console.log(`# bench:scale (${new Date().toISOString()}, ${os.cpus().length} cores, load ${os.loadavg().map((l) => fmt(l, 2)).join(' ')})`);
  console.log(`${AGENTS} agents = ${PROCS} processes × ${SLOTS} slots; ${TASKS} tasks of one sample, sleep ${SECONDS} s each\n`);
  // more tasks than MNIST test images: the same shards again under other attack labels
  const labels = Math.ceil(TASKS / MNIST_TEST);
  const perLabel = Math.ceil(TASKS / labels);
  const spec = validateSpec(
    {
      name: 'scale',
      datasets: [{ name: 'mnist', split: 'test', samples: { first: perLabel } }],
      models: ['mnist-smallcnn'],
      attacks: Array.from({ length: labels }, (_, i) => ({ name: 'sleep', label: `sleep-${i + 1}`, options: { ms: SECONDS * 1000 } })),
      steps: [1],
      batchSize: 1,
      shardSize: 1,
    },
    'scale.yaml',
    process.cwd(),
  );
  const tuning = tuningFor(Number(values['ack-wait']) * 1000);
  await ensureStreams(nc, n, tuning);

  // agents first, warm (registered = tensor workers started), then the clock starts with the publish
  const tStart = performance.now();
  agents = new LocalAgents({
    count: PROCS,
    slots: SLOTS,
    backend: 'wasm',
    idleSeconds: 3600, // stopped by us at the end, not by idleness while warming up
    drainSeconds: 30,
    idOf: (i) => `scale-${i}`,
    env: { NATS_URL: SHARED_NATS, SIGMA_SWEEP_NS: ns },
    logFormat: 'text',
    write: (line) => {
      if (/\b(warn|error)\b/.test(line)) process.stderr.write(line + '\n');
    },
  });
  agents.start();
  for (const end = Date.now() + 600_000; (await liveAgents(nc, n)).length < PROCS; ) {
    if (Date.now() > end) throw new Error('agents did not come up in 10 min');
    if (agents.running() < PROCS) throw new Error(`an agent process ended while starting: ${JSON.stringify(agents.failures())}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const startSec = (performance.now() - tStart) / 1000;
  // a tensor worker loads the dataset and the model on its first task (~0.3 CPU-s each): run one
  // 2-second task per slot first, so that the measured sweep sees warm agents (the cold start is
  // reported on its own; in a cluster each agent pays it once per pod)
  const tWarm = performance.now();
  const warmSpec = validateSpec(
    { name: 'scale-warmup', datasets: [{ name: 'mnist', split: 'test', samples: { first: AGENTS } }], models: ['mnist-smallcnn'], attacks: [{ name: 'sleep', options: { ms: 2000 } }], steps: [1], batchSize: 1, shardSize: 1 },
    'scale-warmup.yaml',
    process.cwd(),
  );
  const warm = await submitSweep(warmSpec, store, nc, n, { tuning });
  await orchestrate(nc, n, store, { sweepId: warm.sweepId, untilDone: true, log, pollMs: 100 });
  const warmSec = (performance.now() - tWarm) / 1000;
  const { rows: warmRows } = await store.reports.query(`select count(distinct agent)::int as a from tasks where sweep_id = '${warm.sweepId}'`);
  const pids = [process.pid, ...childPids()];
  const cpu0 = new Map(pids.map((p) => [p, cpuSeconds(p)]));
  // the servers' share (nats-server is shared with whatever else runs here: an upper bound)
  const natsServer = natsServerPid();
  const natsCpu0 = natsServer ? cpuSeconds(natsServer) : 0;

  const t0 = performance.now();
  const sub = await submitSweep(spec, store, nc, n, { tuning });
  const publishSec = (performance.now() - t0) / 1000;
  if (sub.planned !== TASKS && sub.planned < TASKS) throw new Error(`planned ${sub.planned} tasks, wanted ${TASKS}`);

  // sample while the orchestrator ingests
  const samples: Array<{ t: number; waiting: number; queued: number; done: number; natsConns: number | null; pgConns: number }> = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const b = await ingestBacklog(nc, n).catch(() => null);
      const q = await sweepTaskBacklog(nc, n, sub.sweepId).catch(() => null);
      const p = await sweepProgress(store, sub.sweepId).catch(() => null);
      const pgc = await admin.query('select count(*)::int as c from pg_stat_activity where datname = $1', [dbName]).catch(() => null);
      samples.push({
        t: (performance.now() - t0) / 1000,
        waiting: b ? b.pending + b.inFlight : 0,
        queued: q ?? 0,
        done: p?.done ?? 0,
        natsConns: natsConnections(pids),
        pgConns: pgc ? pgc.rows[0].c : 0,
      });
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  const stats = await orchestrate(nc, n, store, { sweepId: sub.sweepId, untilDone: true, log, pollMs: 100 });
  const wall = (performance.now() - t0) / 1000;
  const doneAt = Date.now();
  sampling = false;
  await sampler;
  const cpu = pids.map((p) => cpuSeconds(p) - (cpu0.get(p) ?? 0));
  const natsCpu = natsServer ? cpuSeconds(natsServer) - natsCpu0 : null;
  // PostgreSQL backends of the bench database (they serve nothing else), their whole life
  const backends = await admin.query('select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [dbName]);
  const pgCpu = backends.rows.reduce((a, b: { pid: number }) => a + cpuSeconds(b.pid), 0);

  const { rows } = await store.reports.query(
    `select count(*)::int as n, count(distinct agent)::int as agents,
            extract(epoch from max(finished_at) - min(started_at))::float8 as span,
            extract(epoch from max(finished_at))::float8 as last_end,
            coalesce(sum(seconds), 0)::float8 as busy,
            extract(epoch from sum(finished_at - started_at))::float8 as held
       from tasks where sweep_id = '${sub.sweepId}' and status = 'done'`,
  );
  const r = rows[0] as { n: number; agents: number; span: number; last_end: number; busy: number; held: number };
  if (r.n !== sub.planned) throw new Error(`only ${r.n}/${sub.planned} tasks done`);
  const ideal = (sub.planned * SECONDS) / AGENTS;
  const tailLag = doneAt / 1000 - r.last_end; // last task's end (agent clock, same machine) → sweep done
  const maxWaiting = Math.max(0, ...samples.map((s) => s.waiting));
  const meanWaiting = samples.length ? samples.reduce((a, s) => a + s.waiting, 0) / samples.length : 0;
  const natsMax = Math.max(0, ...samples.map((s) => s.natsConns ?? 0));
  const pgMax = Math.max(0, ...samples.map((s) => s.pgConns));

  console.log('| measure | value |');
  console.log('|---|---:|');
  console.log(`| agents up (processes started → all registered) | ${fmt(startSec)} s |`);
  console.log(`| warm-up: one 2 s task per slot (${AGENTS} tasks; ideal 2 s), first-task loads included | ${fmt(warmSec)} s (${warmRows[0].a} processes took part) |`);
  console.log(`| publish ${sub.planned} tasks | ${fmt(publishSec, 2)} s |`);
  console.log(`| wall (publish → sweep done in PostgreSQL) | ${fmt(wall)} s |`);
  console.log(`| ideal (tasks × seconds / agents) | ${fmt(ideal)} s |`);
  console.log(`| **efficiency** (ideal / wall; goal ≥ 90 %) | **${fmt((100 * ideal) / wall)} %** |`);
  console.log(`| first task start → last task end (efficiency without publish and ingest tail) | ${fmt(r.span)} s (${fmt((100 * ideal) / r.span)} %) |`);
  console.log(`| agents that did work (registry ids) | ${r.agents} of ${PROCS} processes |`);
  console.log(`| in-task seconds, summed (sleep + per-task pipeline) | ${fmt(r.busy)} s (${fmt((1000 * r.busy) / sub.planned - SECONDS * 1000, 1)} ms/task over the sleep) |`);
  // a slot's time goes to its tasks (start → end as the agent saw it) or between them (result
  // publish, ack, the next pull): what is not the first, over the span, is the second
  console.log(`| per task, agent side: start → end over the sleep / between tasks (publish, ack, pull) | ${fmt((1000 * r.held) / sub.planned - SECONDS * 1000, 1)} ms / ${fmt((1000 * (AGENTS * r.span - r.held)) / sub.planned, 1)} ms |`);
  console.log(`| ingest: results ingested / duplicates | ${stats.results} / ${stats.duplicates} |`);
  console.log(`| ingest lag: results waiting in NATS, mean / max (1 s samples) | ${fmt(meanWaiting)} / ${maxWaiting} |`);
  console.log(`| ingest lag: last task's end → sweep done | ${fmt(tailLag, 2)} s |`);
  console.log(`| NATS connections of this process + agents, max (ss) | ${natsMax} |`);
  console.log(`| PostgreSQL connections to the bench database, max (pg_stat_activity) | ${pgMax} |`);
  const agentCpu = cpu.slice(1).reduce((a, b) => a + b, 0);
  console.log(
    `| CPU seconds: orchestrator (this process) / agents (sum) / nats-server | ${fmt(cpu[0])} / ${fmt(agentCpu)} / ${natsCpu === null ? 'n/a' : fmt(natsCpu)} ` +
      `(${fmt((1000 * cpu[0]) / sub.planned, 1)} / ${fmt((1000 * agentCpu) / sub.planned, 1)} / ${natsCpu === null ? 'n/a' : fmt((1000 * natsCpu) / sub.planned, 1)} ms per task) |`,
  );
  console.log(`| CPU seconds of the bench database's PostgreSQL backends (whole run, planning included) | ${fmt(pgCpu)} |`);
  console.log(`| load average after | ${os.loadavg().map((l) => fmt(l, 2)).join(' ')} |`);
} finally {
  await agents?.stop(35_000);
  await admin.end().catch(() => {});
  await nc.close().catch(() => {});
  await store.close().catch(() => {});
  await dropNamespace(SHARED_NATS, ns).catch(() => {});
  await db.drop().catch(() => {});
}
