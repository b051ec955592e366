/**
 * `sigma-sweep agent`: a long-running worker. Per slot it pulls one task at a time from the durable
 * `agents` consumer, runs it on the agent's tensor workers (one thread per slot, so heartbeats keep
 * flowing; a task's batches spread over every idle worker, see tensor-pool.ts), calls
 * working() while it runs, publishes the result on the RESULTS stream (in parts under NATS's
 * max_payload) and acks the task only after JetStream acknowledged every part. A transient failure
 * naks with a delay; a permanent one (bad model file, unknown attack, shape mismatch) is reported
 * with its reason on the RESULTS stream, then terminated. SIGTERM drains: no new pulls, current
 * tasks finish within the grace period or are nak'ed for immediate redelivery; nothing is lost.
 * The agent registers and heartbeats in a KV bucket (id, host, backend, device, current tasks).
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, type Consumer, type JsMsg } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeWire, splitResult, taskSchema, type AgentRecord, type Task, type TaskFailure } from '../../schema/wire.ts';
import { TaskFailedError } from '../../agent/tensor-worker.ts';
import { isPermanent } from '../../schema/errors.ts';
import { TensorPool } from '../../agent/tensor-pool.ts';
import { connectNats, describeNats, type NatsSettings } from '../../protocol/nats.ts';
import { names, type Names } from '../../protocol/names.ts';
import type { Logger } from '../../protocol/log.ts';

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
}


async function getConsumer(nc: NatsConnection, n: Names, log: Logger, stopped: () => boolean): Promise<Consumer | null> {
  const js = jetstream(nc);
  for (let warned = false; !stopped(); ) {
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

export async function runAgent(opts: AgentOptions): Promise<void> {
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

  let draining = false;
  const stopped = () => draining;
  const onSignal = (sig: string) => {
    if (draining) return;
    draining = true;
    log.info('draining: no new tasks; finishing the current ones', { signal: sig });
  };
  const sigterm = () => onSignal('SIGTERM');
  const sigint = () => onSignal('SIGINT');
  process.on('SIGTERM', sigterm);
  process.on('SIGINT', sigint);
  opts.stopSignal?.addEventListener('abort', () => onSignal('abort'));

  const js = jetstream(nc);
  const consumer = await getConsumer(nc, n, log, stopped);
  const pool = new TensorPool(opts.slots, opts.backend);
  const info = consumer ? await pool.info() : { backend: 'unknown', device: 'unknown' };
  const current = new Map<string, { task: Task; msg: JsMsg; attempt: number; startedAt: string }>();

  let kv = null as KV | null;
  const record = (): AgentRecord => ({
    id,
    host: os.hostname(),
    pid: process.pid,
    backend: info.backend,
    device: info.device,
    slots: opts.slots,
    tasks: [...current.values()].map((c) => ({ key: c.task.key, sweepId: c.task.sweepId, startedAt: c.startedAt, attempt: c.attempt })),
    updatedAt: new Date().toISOString(),
  });
  const beat = async () => {
    try {
      kv ??= await new Kvm(nc).create(n.agentsKv, { ttl: 30_000 });
      await kv.put(id, JSON.stringify(record()));
    } catch (e) {
      log.debug('heartbeat failed', { error: (e as Error).message });
    }
  };
  await beat();
  const beatTimer = setInterval(beat, 5_000);
  // task start/end refresh the registry promptly, at most once a second
  let lastBeat = 0;
  const beatSoon = () => {
    if (Date.now() - lastBeat < 1000) return;
    lastBeat = Date.now();
    void beat();
  };

  let heartbeatMs = 15_000;
  if (consumer) {
    try {
      const ci = await consumer.info(true);
      const ackWaitNs = ci.config.backoff?.[0] ?? ci.config.ack_wait ?? 30e9;
      heartbeatMs = Math.max(100, Math.floor(ackWaitNs / 1e6 / 4));
    } catch {
      /* keep the default */
    }
  }
  const publishFailure = async (task: Pick<Task, 'key' | 'sweepId'>, attempt: number, permanent: boolean, reason: string) => {
    const f: TaskFailure = { kind: 'failure', sweepId: task.sweepId, taskKey: task.key, attempt, agent: id, permanent, reason };
    await js.publish(n.resultSubject(task.sweepId), JSON.stringify(f), { msgID: `${task.key}:${attempt}:failure` });
  };

  const handle = async (slot: number, msg: JsMsg) => {
    const attempt = msg.info.deliveryCount;
    let task: Task;
    try {
      task = decodeWire(taskSchema, msg.data, 'task');
    } catch (e) {
      const reason = `unreadable task message: ${(e as Error).message}`;
      log.error('terminating poison message', { subject: msg.subject, seq: msg.seq, reason });
      const sweepId = msg.subject.split('.').pop() ?? 'unknown';
      await publishFailure({ key: `seq-${msg.info.streamSequence}`, sweepId }, attempt, true, reason).catch(() => {});
      msg.term(reason);
      return;
    }
    const startedAt = new Date().toISOString();
    current.set(task.key, { task, msg, attempt, startedAt });
    beatSoon();
    const hb = setInterval(() => msg.working(), heartbeatMs);
    log.info('task started', { task: task.key, sweep: task.sweepId, attack: task.attack.label, samples: task.sampleIndices.length, attempt, slot });
    try {
      const result = await pool.run(task, attempt, id);
      const parts = splitResult({ ...result, kind: 'result', sweepId: task.sweepId }, opts.samplesPerPart ?? 64);
      for (const p of parts) {
        await js.publish(n.resultSubject(task.sweepId), JSON.stringify(p), { msgID: `${task.key}:${attempt}:${p.part}`, timeout: 10_000 });
      }
      await msg.ackAck();
      log.info('task done', { task: task.key, attempt, seconds: result.batches.reduce((a, b) => a + b.seconds, 0).toFixed(2) });
    } catch (e) {
      if (e instanceof TaskFailedError) {
        const permanent = isPermanent(e);
        log.error('task failed', { task: task.key, attempt, permanent, reason: e.message });
        await publishFailure(task, attempt, permanent, e.message).catch((pe) => log.warn('could not report the failure', { error: (pe as Error).message }));
        if (permanent) msg.term(e.message);
        else msg.nak(Math.min(30_000, 1000 * 2 ** attempt));
      } else {
        // NATS trouble while publishing: hand the task back (or let ack_wait do it)
        log.warn('could not publish the result; task goes back to the queue', { task: task.key, error: (e as Error).message });
        try {
          msg.nak(1000);
        } catch {
          /* redelivered after ack_wait */
        }
      }
    } finally {
      clearInterval(hb);
      current.delete(task.key);
      beatSoon();
    }
  };

  const slotLoop = async (slot: number) => {
    while (!draining && consumer) {
      let msg: JsMsg | null = null;
      try {
        msg = await consumer.next({ expires: 2000 });
      } catch (e) {
        if (!draining) log.debug('pull failed; retrying', { error: (e as Error).message });
        await sleep(500);
        continue;
      }
      if (msg) await handle(slot, msg);
    }
  };
  const loops = Array.from({ length: opts.slots }, (_, s) => slotLoop(s));

  // drain: wait for the slot loops (they finish their current task) up to the grace period
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (draining) (clearInterval(check), resolve());
    }, 100);
  });
  const grace = opts.drainTimeoutMs ?? 30_000;
  const finished = await Promise.race([Promise.all(loops).then(() => true), sleep(grace).then(() => false)]);
  if (!finished) {
    for (const c of current.values()) {
      log.warn('grace period over: handing the task back', { task: c.task.key });
      c.msg.nak();
    }
  }
  clearInterval(beatTimer);
  await pool.stop();
  try {
    await kv?.delete(id);
  } catch {
    /* expires anyway */
  }
  process.off('SIGTERM', sigterm);
  process.off('SIGINT', sigint);
  await nc.drain().catch(() => {});
  log.info('agent stopped', { id });
}
