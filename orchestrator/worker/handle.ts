/**
 * One task message, start to end: decode it (a poison message is reported and terminated), run the
 * task on the tensor pool while calling working() so JetStream does not redeliver it, publish the
 * result in parts under NATS's max_payload, and ack only after JetStream acknowledged every part.
 * A permanent failure is reported with its reason on the RESULTS stream and terminated; a transient
 * one is reported and nak'ed with a growing delay; trouble publishing hands the task back.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { decodeWire, splitResult, taskSchema, type Task, type TaskFailure } from '../../schema/wire.ts';
import { isPermanent } from '../../schema/errors.ts';
import { TaskFailedError } from '../../agent/tensor-worker.ts';
import type { TensorPool } from '../../agent/tensor-pool.ts';
import type { Names } from '../../protocol/names.ts';
import type { Logger } from '../../protocol/log.ts';
import type { AgentRegistration } from './registry.ts';

export interface HandlerDeps {
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
  /** the messages of the tasks running now (the drain hands them back when the grace period ends) */
  inHand: Map<string, JsMsg>;
}

/** Redelivery delay after a transient failure: 2 s, 4 s, 8 s … up to 30 s. */
export const retryDelayMs = (attempt: number) => Math.min(30_000, 1000 * 2 ** attempt);

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
        else msg.nak(retryDelayMs(attempt));
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
      clearInterval(working);
      deps.inHand.delete(task.key);
      registration.taskEnded(task.key);
    }
  };
}
