/**
 * Distributed sweeps under faults, hardened (issue 13), on a private nats-server (so it can be
 * stopped) and a throw-away PostgreSQL database (cut through a TCP proxy):
 * - NATS down while tasks finish: the agents keep the results and publish them once NATS is back,
 *   so the sweep does not wait out ack_wait, and every task runs exactly once;
 * - PostgreSQL cut during ingestion: one log line when it goes (naming the cause), one when it is
 *   back, never the SQL or its parameters;
 * - a drained agent exits as soon as its work is over, not at the end of --drain-timeout;
 * - `submit` during a running sweep publishes nothing that is queued or running.
 */
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Store } from '../orchestrator/db/store.ts';
import { ensureStreams, tuningFor } from '../orchestrator/nats/streams.ts';
import { names, type Names } from '../protocol/names.ts';
import { submitSweep } from '../orchestrator/submit.ts';
import { orchestrate } from '../orchestrator/orchestrate.ts';
import { createLogger } from '../protocol/log.ts';
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

beforeAll(async () => {
  ({ nats, db, store, nc } = await openFaultEnv());
});

afterEach(async () => {
  await stopAgents(agents);
  agents = [];
});

afterAll(() => closeFaultEnv({ nats, db, store, nc }));

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

const rowsOf = (sweepId: string) => sweepRows(store, sweepId);

/** Executions of a sweep's tasks: the agents' "task started" lines for it. */
const startedLines = (sweepId: string) =>
  agents.map((a) => (a.log().match(new RegExp(`task started .*sweep=${sweepId}`, 'g')) ?? []).length).reduce((x, y) => x + y, 0);

async function waitUntil(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}:\n${agents.map((a) => a.log()).join('\n---\n')}`);
    await pause(100);
  }
}

/** Run the orchestrator until the sweep is done; returns its wall time in ms. */
async function sweepWall(n: Names, sweepId: string, startedAt: number, extra: Partial<Parameters<typeof orchestrate>[3]> = {}): Promise<number> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 150_000);
  try {
    await orchestrate(nc, n, store, { sweepId, untilDone: true, log, pollMs: 200, signal: ac.signal, ...extra });
  } finally {
    clearTimeout(t);
  }
  return Date.now() - startedAt;
}

/** A logger writing into an array of lines, as the tests read them. */
function capturingLogger() {
  const lines: string[] = [];
  let buf = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      buf += String(chunk);
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      lines.push(...parts);
      done();
    },
  });
  return { lines, log: createLogger({ level: 'info', format: 'text', stream }) };
}

describe('distributed sweeps, hardened', () => {
  it('NATS down while tasks finish: results are published once it is back, without waiting out ack_wait; every task runs once', async () => {
    const ACK_WAIT = 30_000;
    const N = 6;
    const STEPS = 100;
    const n = names(freshNamespace('outage'));
    agents.push(spawnAgent(nats.url, n.ns, ['--id', 'o1']), spawnAgent(nats.url, n.ns, ['--id', 'o2']));

    // the same sweep shape without a fault, for the wall time to compare against
    const calmStart = Date.now();
    const calm = await submitSweep(tinySweep('calm', N, STEPS), store, nc, n, { tuning: tuningFor(ACK_WAIT) });
    const calmWall = await sweepWall(n, calm.sweepId, calmStart);
    expect(await rowsOf(calm.sweepId)).toEqual({ n: N, d: N, status: { done: N } });

    const start = Date.now();
    const sub = await submitSweep(tinySweep('outage', N, STEPS), store, nc, n, { tuning: tuningFor(ACK_WAIT) });
    const done = sweepWall(n, sub.sweepId, start);
    // both agents are in the middle of a task of this sweep: NATS goes away for longer than a task
    await waitUntil(() => agents.every((a) => new RegExp(`task started .*sweep=${sub.sweepId}`).test(a.log())), 'both agents to start a task');
    // NATS stays away until each agent holds a finished result it could not publish
    const down = Date.now();
    await nats.stop();
    await waitUntil(() => agents.every((a) => /could not publish the result/.test(a.log())), 'both agents to hold an unpublished result');
    await nats.start();
    const outage = Date.now() - down;
    const wall = await done;

    expect(await rowsOf(sub.sweepId)).toEqual({ n: N, d: N, status: { done: N } }); // nothing lost, nothing twice
    expect(startedLines(sub.sweepId)).toBe(N); // no redelivery: every task ran exactly once
    const { rows } = await store.reports.query(`select max(attempts)::int as a from tasks where sweep_id = '${sub.sweepId}'`);
    expect(rows[0].a).toBe(1);
    // the results held during the outage were published when NATS came back
    expect(agents.map((a) => a.log()).join('\n')).toMatch(/result published after NATS came back/);
    // ack_wait-based redelivery would add at least ACK_WAIT; the outage itself adds `outage`
    expect(wall).toBeLessThan(calmWall + outage + ACK_WAIT / 3);
    console.log(`NATS outage sweep: ${wall} ms against ${calmWall} ms without a fault (outage ${outage} ms, ack_wait ${ACK_WAIT} ms)`);
  });

  it('PostgreSQL cut during ingestion: one line when it goes (with its cause), one when it is back, never the SQL parameters', async () => {
    const N = 10;
    const n = names(freshNamespace('pglog'));
    const target = new URL(db.url);
    const proxy = await tcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    const flaky = await Store.open({ databaseUrl: viaProxy.toString() });
    const { lines, log: captured } = capturingLogger();
    try {
      const start = Date.now();
      const sub = await submitSweep(tinySweep('pglog', N, 60), store, nc, n, { tuning: tuningFor(30_000) });
      agents.push(spawnAgent(nats.url, n.ns, ['--id', 'pg1']));
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(), 120_000);
      const done = orchestrate(nc, n, flaky, { sweepId: sub.sweepId, untilDone: true, log: captured, pollMs: 200, signal: ac.signal }).finally(() => clearTimeout(t));
      await agents[0].waitFor(/task done/);
      await proxy.cut();
      await pause(3000);
      await proxy.restore();
      const stats = await done;
      const wall = Date.now() - start;

      expect(stats.retries).toBeGreaterThan(0); // results arrived while the database was away
      expect(await rowsOf(sub.sweepId)).toEqual({ n: N, d: N, status: { done: N } });
      const down = lines.filter((l) => /database unavailable/.test(l));
      const back = lines.filter((l) => /database back/.test(l));
      expect(down).toHaveLength(1);
      // refused (a new connection) or terminated (a query in flight when the proxy cut it)
      expect(down[0]).toMatch(/^warn +database unavailable: (ECONNREFUSED \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)|ECONNRESET \(.*\)|Connection terminated unexpectedly); retrying$/);
      expect(back).toHaveLength(1);
      expect(back[0]).toMatch(/^info +database back downSeconds=\d+(\.\d)? failedCalls=\d+$/);
      expect(lines).toHaveLength(2); // nothing else: no line per failed statement
      for (const l of lines) {
        expect(l).not.toMatch(/params|Failed query|insert into|select /i);
        expect(l.length).toBeLessThan(300);
      }
      console.log(`PostgreSQL cut sweep: ${wall} ms, ${stats.retries} retried messages, log: ${JSON.stringify(lines)}`);
    } finally {
      await flaky.close().catch(() => {});
      await proxy.close();
    }
  });

  it('an idle agent given SIGTERM exits at once, not at the end of --drain-timeout', async () => {
    const n = names(freshNamespace('idle'));
    await ensureStreams(nc, n, tuningFor(30_000));
    const a = spawnAgent(nats.url, n.ns, ['--id', 'idler', '--drain-timeout', '30']);
    agents.push(a);
    await a.waitFor(/agent connected/);
    await pause(1500); // pulling from the (empty) queue
    const t0 = Date.now();
    a.proc.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    const took = Date.now() - t0;
    expect(a.log()).toMatch(/agent stopped/);
    expect(took).toBeLessThan(5_000); // a pull expires within 2 s; the 30 s grace timer is cancelled
  });

  it('an agent drained mid-task exits as soon as the task is done', async () => {
    const n = names(freshNamespace('busy'));
    const sub = await submitSweep(tinySweep('busy', 1, 300), store, nc, n, { tuning: tuningFor(30_000) });
    const a = spawnAgent(nats.url, n.ns, ['--id', 'finisher', '--drain-timeout', '30']);
    agents.push(a);
    await a.waitFor(/task started/);
    const t0 = Date.now();
    a.proc.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    const took = Date.now() - t0;
    expect(a.log()).toMatch(/task done[\s\S]*agent stopped/);
    expect(a.log()).not.toMatch(/handing the task back/);
    expect(took).toBeLessThan(15_000); // the task's own time, not the 30 s grace
    await sweepWall(n, sub.sweepId, Date.now());
    expect(await rowsOf(sub.sweepId)).toEqual({ n: 1, d: 1, status: { done: 1 } });
  });

  it('submit during a running sweep publishes no queued or running task; every task runs once', async () => {
    const N = 8;
    const n = names(freshNamespace('twice'));
    const spec = tinySweep('twice', N, 200);
    const first = await submitSweep(spec, store, nc, n, { tuning: tuningFor(30_000) });
    expect(first).toMatchObject({ planned: N, published: N, complete: 0, inFlight: 0 });
    agents.push(spawnAgent(nats.url, n.ns, ['--id', 'w1']), spawnAgent(nats.url, n.ns, ['--id', 'w2']));
    await waitUntil(() => startedLines(first.sweepId) >= 2, 'two tasks started');
    const again = await submitSweep(spec, store, nc, n, { tuning: tuningFor(30_000) });
    expect(again.published).toBe(0);
    expect(again.complete + again.inFlight).toBe(N);
    await sweepWall(n, first.sweepId, Date.now());
    expect(await rowsOf(first.sweepId)).toEqual({ n: N, d: N, status: { done: N } });
    expect(startedLines(first.sweepId)).toBe(N);
    const { rows } = await store.reports.query(`select sum(publishes)::int as p, max(attempts)::int as a from tasks where sweep_id = '${first.sweepId}'`);
    expect(rows[0]).toEqual({ p: N, a: 1 });
    // once finished, a third submit has nothing to do either
    expect(await submitSweep(spec, store, nc, n, { tuning: tuningFor(30_000) })).toMatchObject({ published: 0, complete: N, inFlight: 0 });
  });

  it('submit --force republishes every task, in flight or complete', async () => {
    const N = 3;
    const n = names(freshNamespace('force'));
    const spec = tinySweep('force', N, 5);
    expect((await submitSweep(spec, store, nc, n, { tuning: tuningFor(30_000) })).published).toBe(N);
    expect(await submitSweep(spec, store, nc, n, { tuning: tuningFor(30_000) })).toMatchObject({ published: 0, inFlight: N });
    expect(await submitSweep(spec, store, nc, n, { force: true, tuning: tuningFor(30_000) })).toMatchObject({ published: N, inFlight: 0 });
    const info = await (await jetstreamManager(nc)).streams.info(n.tasks);
    expect(info.state.messages).toBe(2 * N);
  });
});
