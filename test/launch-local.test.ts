/**
 * `launch --local N` end to end with the real NATS JetStream (a fresh namespace) and the real
 * PostgreSQL (a throw-away database): agent processes started, fed, stopped when the sweep is
 * done, every sample stored exactly once; no agent outlives its launcher, whether the launcher is
 * interrupted (SIGINT: exit 130) or killed outright (SIGKILL: the agents notice their IPC channel
 * close and drain). And the agent flag it relies on, `--exit-when-idle`: exit 0 only once the
 * queue holds nothing (not while a task is in flight elsewhere), 143 when stopped by a signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Store } from '../orchestrator/db/store.ts';
import { ensureStreams, tuningFor } from '../orchestrator/nats/streams.ts';
import { submitSweep } from '../orchestrator/submit.ts';
import { liveAgents } from '../orchestrator/agents-registry.ts';
import { launchesBucket, readLaunch } from '../orchestrator/launches.ts';
import { names } from '../protocol/names.ts';
import { createTempDatabase } from './helpers/pg.ts';
import { SHARED_NATS, dropNamespace, freshNamespace, spawnAgent, stopAgents, type AgentProc } from './helpers/nats.ts';
import { tinySweep } from './helpers/dist-spec.ts';
import { rowsOf } from './helpers/sweep-rows.ts';
import { cli } from './helpers/cli.ts';

const BIN = path.resolve(import.meta.dirname, '../bin/sigma-sweep.js');
const namespaces: string[] = [];
const agents: AgentProc[] = [];
const launchers: ChildProcess[] = [];
let db: Awaited<ReturnType<typeof createTempDatabase>>;
let store: Store;
let nc: NatsConnection;

beforeAll(async () => {
  db = await createTempDatabase();
  store = await Store.open({ databaseUrl: db.url });
  nc = await connect({ servers: SHARED_NATS });
});

afterAll(async () => {
  await stopAgents(agents);
  for (const l of launchers) if (l.exitCode === null && l.signalCode === null) l.kill('SIGKILL');
  for (const ns of namespaces) {
    await new Kvm(nc)
      .open(launchesBucket(names(ns)))
      .then((kv) => kv.destroy())
      .catch(() => {});
    await dropNamespace(SHARED_NATS, ns);
  }
  await nc?.close();
  await store?.close();
  await db?.drop();
});

function namespace(prefix: string) {
  const ns = freshNamespace(prefix);
  namespaces.push(ns);
  return names(ns);
}

async function until<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 90_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A launcher as its own process (so that it can be interrupted or killed). */
function spawnLauncher(args: string[]): { proc: ChildProcess; log: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [BIN, 'launch', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SIGMA_SWEEP_LOG: 'text' } });
  launchers.push(proc);
  let text = '';
  proc.stdout!.on('data', (d) => (text += d));
  proc.stderr!.on('data', (d) => (text += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, log: () => text, exited };
}

describe('agent --exit-when-idle', () => {
  it('exits 0 once the queue is empty, but not while a task is in flight elsewhere', async () => {
    const n = namespace('idle');
    await ensureStreams(nc, n, tuningFor(20_000));
    // a task held (delivered, not acknowledged) by someone else: the stream still holds it
    await jetstream(nc).publish(n.taskSubject('held'), '{}');
    const held = await (await jetstream(nc).consumers.get(n.tasks, n.agentsConsumer)).next({ expires: 5000 });
    expect(held).not.toBeNull();
    const a = spawnAgent(SHARED_NATS, n.ns, ['--id', 'idle-1', '--exit-when-idle', '1']);
    agents.push(a);
    await a.waitFor(/agent connected/);
    await new Promise((r) => setTimeout(r, 4000)); // four idle periods
    expect(a.proc.exitCode).toBeNull();
    await held!.ackAck(); // the task is done: the queue is empty
    expect(await a.exited).toBe(0);
    expect(a.log()).toMatch(/the task queue has been empty for the idle period/);
  });

  it('a stop by SIGTERM exits 143 (a Job must not count it as done)', async () => {
    const n = namespace('idle');
    await ensureStreams(nc, n, tuningFor(20_000));
    const a = spawnAgent(SHARED_NATS, n.ns, ['--id', 'idle-2', '--exit-when-idle', '600']);
    agents.push(a);
    await a.waitFor(/agent connected/);
    a.proc.kill('SIGTERM');
    expect(await a.exited).toBe(143);
  });
});

describe('launch --local', () => {
  it('3 agents run a sweep to the end: every sample once, status done, agents gone', async () => {
    const n = namespace('local');
    const spec = tinySweep('local', 12, 1, { attacks: [{ name: 'sleep', options: { ms: 200 } }] });
    const sub = await submitSweep(spec, store, nc, n, { tuning: tuningFor(20_000) });
    expect(sub.published).toBe(12);
    const r = await cli(['launch', '--local', '3', '--sweep', sub.sweepId, '--db', db.url, '--nats', SHARED_NATS, '--ns', n.ns, '--backend', 'wasm', '--idle', '2']);
    expect(r.code, r.err).toBe(0);
    expect(await rowsOf(store, sub.sweepId)).toEqual({ n: 12, d: 12, status: { done: 12 } });
    // the agents' logs came through, each line with its agent's id
    expect(r.err).toMatch(/^\[\S+-L\d+-1\] info  agent connected/m);
    expect(r.err).toMatch(/sweep done; local agents stopped/);

    const rec = (await readLaunch(nc, n, sub.sweepId))!;
    expect(rec).toMatchObject({ mode: 'local', agents: 3, state: 'done' });
    expect(rec.pods).toHaveLength(3);
    for (const p of rec.pods) expect(p.phase).toBe('Succeeded');
    const pids = rec.pods.map((p) => Number(/pid (\d+)/.exec(p.name)![1]));
    expect(pids.filter(alive)).toEqual([]);
    const st = await cli(['status', '--sweep', sub.sweepId, '--db', db.url, '--nats', SHARED_NATS, '--ns', n.ns]);
    expect(st.out).toContain('12/12 tasks done');
    expect(st.out).toMatch(/launched: 3 local agent process\(es\) on \S+; done/);

    const again = await cli(['launch', '--local', '3', '--sweep', sub.sweepId, '--db', db.url, '--nats', SHARED_NATS, '--ns', n.ns]);
    expect(again.code).toBe(0);
    expect(again.err).toContain('is done (12 done, 0 dead of 12): nothing to launch');
  });

  // where neither tfjs-node package is installed (their install step needs the network)
  const hasTfjsNode = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'].some((p) => {
    try {
      import.meta.resolve(p);
      return true;
    } catch {
      return false;
    }
  });
  it.skipIf(hasTfjsNode)('agents asked for a backend this machine lacks exit 2 at once, and so does the launch', async () => {
    const n = namespace('nobackend');
    const spec = tinySweep('nobackend', 2, 1, { attacks: ['noop'] });
    const sub = await submitSweep(spec, store, nc, n, { tuning: tuningFor(20_000) });
    const r = await cli(['launch', '--local', '2', '--sweep', sub.sweepId, '--db', db.url, '--nats', SHARED_NATS, '--ns', n.ns, '--backend', 'tensorflow']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--backend tensorflow: backend 'tensorflow' is not available/);
    expect(r.err).toMatch(/exited with code 2 \(bad input: flags, backend or configuration; its log is above\); the other agents were stopped/);
    const rec = (await readLaunch(nc, n, sub.sweepId))!;
    expect(rec.state).toBe('failed');
    expect(rec.pods.map((p) => Number(/pid (\d+)/.exec(p.name)![1])).filter(alive)).toEqual([]);
  });

  it('flags of a Kubernetes Job are refused with --local', async () => {
    const r = await cli(['launch', '--local', '2', '--image', 'x:1', '--max-agents', '3']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--image, --max-agents only apply to a Kubernetes Job');
  });

  it.each([
    ['SIGINT', 130],
    ['SIGKILL', null],
  ] as const)('a launcher stopped by %s leaves no agent behind', async (signal, code) => {
    const n = namespace('orphan');
    const spec = tinySweep(`orphan-${signal}`, 20, 1, { attacks: [{ name: 'sleep', options: { ms: 1500 } }] });
    const sub = await submitSweep(spec, store, nc, n, { tuning: tuningFor(20_000) });
    const l = spawnLauncher(['--local', '2', '--sweep', sub.sweepId, '--db', db.url, '--nats', SHARED_NATS, '--ns', n.ns, '--backend', 'wasm', '--drain-timeout', '5']);
    const registered = await until('two agents at work', async () => {
      const live = await liveAgents(nc, n);
      return live.length === 2 && live.some((a) => a.tasks.length > 0) ? live : null;
    });
    const pids = registered.map((a) => a.pid);
    expect(pids.every(alive)).toBe(true);
    l.proc.kill(signal);
    expect(await l.exited).toBe(code);
    await until('the agents gone', () => !pids.some(alive), 60_000);
    if (signal === 'SIGINT') expect(l.log()).toMatch(/stopped \(SIGINT\); agents stopped, \d+ task\(s\) left: launch again to resume/);
  });
});
