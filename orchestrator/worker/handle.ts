/**
 * One task message, start to end: decode it (a poison message is reported and terminated), run the
 * task on the tensor pool while calling working() so JetStream does not redeliver it, publish the
 * result in parts under NATS's max_payload, and ack only after JetStream acknowledged every part.
 * A permanent failure is reported with its reason on the RESULTS stream and terminated; a transient
 * one is reported and nak'ed with a growing delay. When NATS is away as the task finishes, the
 * result is kept and published once the connection is back (with backoff, for up to
 * PUBLISH_PATIENCE_MS while the working() calls keep the message ours), then acked: the sweep does
 * not wait out ack_wait, nor run the task again. Only a longer outage hands the task back.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeWire, splitResult, taskSchema, type Task, type TaskFailure } from '../../schema/wire.ts';
import { isPermanent } from '../../schema/errors.ts';
import { TaskFailedError } from '../../agent/tensor-worker.ts';
import type { TensorPool } from '../../agent/tensor-pool.ts';
import type { Names } from '../../protocol/names.ts';
import type { Logger } from '../../protocol/log.ts';
import type { AgentRegistration } from './registry.ts';

export interface HandlerDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  n: Names;
  pool: TensorPool;
  registration: AgentRegistration;
  agentId: string;
  log: Logger;
  /** how often to call working() while a task runs */
  heartbeatMs: number;
  /** samples per result message */
  samplesPerPart: number;
  /** how long to keep retrying a finished task's result while NATS is unavailable (default 2 min) */
  publishPatienceMs?: number;
  /** the messages of the tasks running now (the drain hands them back when the grace period ends) */
  inHand: Map<string, JsMsg>;
}

/** Redelivery delay after a transient failure: 2 s, 4 s, 8 s … up to 30 s. */
export const retryDelayMs = (attempt: number) => Math.min(30_000, 1000 * 2 ** attempt);

/** One publish (or ack) round trip; a reconnect usually answers well within it. */
const PUBLISH_TIMEOUT_MS = 5_000;
/** Attempts to confirm an ack whose first confirmation was lost. */
const ACK_TRIES = 4;
/** How long a finished result waits for NATS to come back before the task is handed back. */
export const PUBLISH_PATIENCE_MS = 120_000;
/** Pause between publish attempts: 250 ms doubling up to 4 s. */
export const publishRetryDelayMs = (tries: number) => Math.min(4_000, 250 * 2 ** tries);

/**
 * Run `deliver` until it succeeds, with backoff, while the message is still ours and within the
 * patience; returns whether it succeeded. Logs once when NATS trouble begins and once when it ends.
 */
async function untilDelivered(deliver: () => Promise<void>, o: { task: string; patienceMs: number; ours: () => boolean; log: Logger }): Promise<boolean> {
  const giveUpAt = Date.now() + o.patienceMs;
  for (let tries = 0; ; tries++) {
    try {
      await deliver();
      if (tries > 0) o.log.info('result published after NATS came back', { task: o.task, tries: tries + 1 });
      return true;
    } catch (e) {
      if (tries === 0) o.log.warn('could not publish the result; keeping it and retrying', { task: o.task, error: (e as Error).message });
      if (!o.ours() || Date.now() + publishRetryDelayMs(tries) > giveUpAt) return false;
      await sleep(publishRetryDelayMs(tries));
    }
  }
}

/**
 * Acknowledge and wait for JetStream's confirmation. JsMsg allows one ack call per message, so a
 * confirmation lost in an outage is retried (a few times) by sending the ack to the reply subject
 * directly. Never fatal: the result is stored, so a redelivery only runs the task again and its
 * second result is dropped (first result wins).
 */
async function confirmAck(msg: JsMsg, nc: NatsConnection, task: string, log: Logger): Promise<void> {
  try {
    await msg.ackAck({ timeout: PUBLISH_TIMEOUT_MS });
    return;
  } catch {
    /* retried below */
  }
  // the JsMsg implementation exposes its ack subject (not in the interface)
  const reply = (msg as JsMsg & { reply?: string }).reply;
  for (let tries = 0; reply && tries < ACK_TRIES; tries++) {
    await sleep(publishRetryDelayMs(tries));
    try {
      await nc.request(reply, '+ACK', { timeout: PUBLISH_TIMEOUT_MS });
      return;
    } catch {
      /* next try */
    }
  }
  log.warn('the ack was not confirmed; JetStream may deliver the task again (its result is stored once)', { task });
}

export function taskHandler(deps: HandlerDeps): (msg: JsMsg, slot: number) => Promise<void> {
  const { js, n, pool, registration, agentId: id, log } = deps;

  const publishFailure = async (task: Pick<Task, 'key' | 'sweepId'>, attempt: number, permanent: boolean, reason: string) => {
    const f: TaskFailure = { kind: 'failure', sweepId: task.sweepId, taskKey: task.key, attempt, agent: id, permanent, reason };
    await js.publish(n.resultSubject(task.sweepId), JSON.stringify(f), { msgID: `${task.key}:${attempt}:failure` });
  };

  return async (msg, slot) => {
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
    deps.inHand.set(task.key, msg);
    registration.taskStarted({ key: task.key, sweepId: task.sweepId, attempt, startedAt: new Date().toISOString() });
    const working = setInterval(() => msg.working(), deps.heartbeatMs);
    log.info('task started', { task: task.key, sweep: task.sweepId, attack: task.attack.label, samples: task.sampleIndices.length, attempt, slot });
    try {
      const result = await pool.run(task, attempt, id);
      const parts = splitResult({ ...result, kind: 'result', sweepId: task.sweepId }, deps.samplesPerPart);
      // the result is kept while NATS is away and published once the connection is back, for as
      // long as the working() calls keep the message ours; parts already stored are not resent
      let sent = 0;
      const publishRest = async () => {
        for (; sent < parts.length; sent++) {
          const p = parts[sent];
          await js.publish(n.resultSubject(task.sweepId), JSON.stringify(p), { msgID: `${task.key}:${attempt}:${p.part}`, timeout: PUBLISH_TIMEOUT_MS });
        }
      };
      const ours = () => deps.inHand.get(task.key) === msg;
      if (!(await untilDelivered(publishRest, { task: task.key, patienceMs: deps.publishPatienceMs ?? PUBLISH_PATIENCE_MS, ours, log }))) {
        throw new Error('NATS unavailable for too long');
      }
      await confirmAck(msg, deps.nc, task.key, log);
      log.info('task done', { task: task.key, attempt, seconds: result.batches.reduce((a, b) => a + b.seconds, 0).toFixed(2) });
    } catch (e) {
      if (e instanceof TaskFailedError) {
        const permanent = isPermanent(e);
        log.error('task failed', { task: task.key, attempt, permanent, reason: e.message });
        await publishFailure(task, attempt, permanent, e.message).catch((pe) => log.warn('could not report the failure', { error: (pe as Error).message }));
        if (permanent) msg.term(e.message);
        else msg.nak(retryDelayMs(attempt));
      } else {
        // NATS away for longer than the patience: hand the task back (or let ack_wait do it)
        log.warn('could not publish the result; task goes back to the queue', { task: task.key, error: (e as Error).message });
        try {
          msg.nak(1000);
        } catch {
          /* redelivered after ack_wait */
        }
      }
    } finally {
      clearInterval(working);
      deps.inHand.delete(task.key);
      registration.taskEnded(task.key);
    }
  };
}
