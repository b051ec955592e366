/**
 * `sigma-sweep agent`: a long-running worker. Per slot it pulls one task at a time from the durable
 * `agents` consumer and runs it on the agent's tensor workers (one thread per slot, so heartbeats
 * keep flowing; a task's batches spread over every idle worker, see agent/tensor-pool.ts). What
 * happens to one message is in handle.ts, the KV registry in registry.ts, SIGTERM's drain in
 * drain.ts. This file wires them: connect, find the queue, start the pool, loop, drain, stop.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, type Consumer, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { TensorPool } from '../../agent/tensor-pool.ts';
import { connectNats, describeNats, type NatsSettings } from '../../protocol/nats.ts';
import { names, type Names } from '../../protocol/names.ts';
import type { Logger } from '../../protocol/log.ts';
import { AgentRegistration } from './registry.ts';
import { Drain } from './drain.ts';
import { taskHandler } from './handle.ts';
import { watchIdle } from './idle.ts';
import { BadInputError } from '../../schema/errors.ts';

export interface AgentOptions {
  nats: NatsSettings;
  ns?: string;
  slots: number;
  backend: string;
  id?: string;
  log: Logger;
  /** how long SIGTERM waits for running tasks before nak'ing them */
  drainTimeoutMs?: number;
  /** samples per result message */
  samplesPerPart?: number;
  /** resolves the agent's stop (tests); SIGTERM/SIGINT do the same */
  stopSignal?: AbortSignal;
  /** stop by itself once it held no task and the task stream was empty for this long (idle.ts) */
  exitWhenIdleMs?: number;
}

/** Why the agent stopped: 'idle' (exitWhenIdleMs), or the signal / 'abort' that began the drain. */
export interface AgentStop {
  reason: string;
}

/** The task consumer, once the orchestrator has created it (null when draining begins first). */
async function waitForConsumer(nc: NatsConnection, n: Names, log: Logger, drain: Drain): Promise<Consumer | null> {
  const js = jetstream(nc);
  for (let warned = false; !drain.active; ) {
    try {
      return await js.consumers.get(n.tasks, n.agentsConsumer);
    } catch (e) {
      if (!warned) log.warn('task queue not there yet; waiting for the orchestrator to create it', { stream: n.tasks, error: (e as Error).message });
      warned = true;
      await sleep(1000);
    }
  }
  return null;
}

/** working() every quarter of the consumer's first redelivery delay (backoff[0], else ack_wait). */
async function workingIntervalMs(consumer: Consumer): Promise<number> {
  try {
    const ci = await consumer.info(true);
    const ackWaitNs = ci.config.backoff?.[0] ?? ci.config.ack_wait ?? 30e9;
    return Math.max(100, Math.floor(ackWaitNs / 1e6 / 4));
  } catch {
    return 15_000;
  }
}

export async function runAgent(opts: AgentOptions): Promise<AgentStop> {
  const log = opts.log;
  const n = names(opts.ns);
  const id = opts.id ?? `${os.hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const nc = await connectNats({ ...opts.nats, name: `sigma-sweep-agent-${id}` });
  log.info('agent connected', { id, nats: describeNats(opts.nats), slots: opts.slots });
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect' || s.type === 'reconnect') log.warn(`nats ${s.type}`, { server: String((s as { server?: string }).server ?? '') });
    }
  })().catch(() => {});

  const drain = new Drain(log, opts.stopSignal);
  const consumer = await waitForConsumer(nc, n, log, drain);
  const pool = new TensorPool(opts.slots, opts.backend);
  let info = { backend: 'unknown', device: 'unknown' };
  try {
    if (consumer) info = await pool.info();
  } catch (e) {
    // no tensor runtime: stop (signal handlers, NATS) instead of hanging on an open connection
    await pool.stop().catch(() => {});
    drain.close();
    await nc.close().catch(() => {});
    const reason = (e as Error).message;
    // a backend asked for by name that this machine lacks is configuration (exit 2), and a Job fails at once on it
    if (opts.backend !== 'auto') throw new BadInputError(`--backend ${opts.backend}: ${reason}`);
    throw new Error(`the tensor workers did not start: ${reason}`);
  }
  const registration = new AgentRegistration(nc, n, id, { ...info, slots: opts.slots }, log);
  await registration.start();

  const inHand = new Map<string, JsMsg>();
  const handle = taskHandler({
    nc,
    js: jetstream(nc),
    n,
    pool,
    registration,
    agentId: id,
    log,
    heartbeatMs: consumer ? await workingIntervalMs(consumer) : 15_000,
    samplesPerPart: opts.samplesPerPart ?? 64,
    inHand,
  });

  let lastActive = Date.now();
  const slotLoop = async (slot: number) => {
    while (!drain.active && consumer) {
      let msg: JsMsg | null = null;
      try {
        msg = await consumer.next({ expires: 2000 });
      } catch (e) {
        if (!drain.active) log.debug('pull failed; retrying', { error: (e as Error).message });
        await sleep(500);
        continue;
      }
      if (msg) {
        lastActive = Date.now();
        await handle(msg, slot);
        lastActive = Date.now();
      }
    }
  };
  const loops = Promise.all(Array.from({ length: opts.slots }, (_, s) => slotLoop(s)));
  if (consumer && opts.exitWhenIdleMs !== undefined) {
    void watchIdle(nc, n, opts.exitWhenIdleMs, { busy: () => inHand.size > 0, lastActive: () => lastActive }, drain, log);
  }

  // drain: the slot loops finish their current task, up to the grace period
  await drain.requested();
  if (!(await drain.finish(loops, opts.drainTimeoutMs ?? 30_000))) {
    for (const [key, msg] of inHand) {
      log.warn('grace period over: handing the task back', { task: key });
      inHand.delete(key); // no longer ours: a result still waiting for NATS stops retrying
      msg.nak();
    }
  }
  await registration.stop();
  await pool.stop();
  drain.close();
  await nc.drain().catch(() => {});
  log.info('agent stopped', { id, reason: drain.reason });
  return { reason: drain.reason ?? 'abort' };
}
