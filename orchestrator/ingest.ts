/**
 * The ingester: consumes the RESULTS stream and writes each message to PostgreSQL in one
 * transaction (idempotent upserts), acking only after the commit. While the database is
 * unavailable it naks with a delay and keeps retrying; nothing is acked before it is stored. The
 * outage is logged once when it begins (with its cause, never the SQL or its parameters) and once
 * when it ends (DbHealth).
 * The first complete result of a task wins: later copies (speculative duplicates, redeliveries)
 * are acknowledged without writing.
 *
 * Dead letters: MAX_DELIVERIES and MSG_TERMINATED advisories of the task consumer are recorded in
 * dead_tasks with the last reason an agent reported, and an exhausted message is removed from the
 * TASKS stream.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeWire, resultMessageSchema, taskSchema } from '../schema/wire.ts';
import { isPermanent } from '../schema/errors.ts';
import type { Names } from '../protocol/names.ts';
import type { Store } from './db/store.ts';
import type { Logger } from '../protocol/log.ts';
import { causeText, DbHealth, describeDbError } from './db/errors.ts';


export interface IngesterStats {
  results: number;
  duplicates: number;
  failures: number;
  dead: number;
  retries: number;
}

export async function ingestMessage(store: Store, msg: { data: Uint8Array }, log: Logger, stats: IngesterStats): Promise<void> {
  const m = decodeWire(resultMessageSchema, msg.data, 'result message');
  if (m.kind === 'failure') {
    stats.failures++;
    if (m.permanent) {
      await store.tasks.recordDead(m.taskKey, m.sweepId, m.reason, m.attempt);
      stats.dead++;
      log.warn('task is dead', { task: m.taskKey, reason: m.reason });
    } else {
      await store.tasks.recordError(m.taskKey, m.reason);
    }
    return;
  }
  if (await store.results.record(m)) stats.results++;
  else stats.duplicates++;
}

export interface IngesterHandle {
  stats: IngesterStats;
  stop(): Promise<void>;
}

/**
 * `concurrency` pull loops share the consumer, each writing its own messages (one transaction per
 * message) on its own pooled connection, so commits overlap (PostgreSQL groups their WAL flushes).
 */
/**
 * `health` is shared with whoever else uses the store in this process (the orchestrator's progress
 * polls), so an outage is logged once, not once per caller.
 */
export function startIngester(nc: NatsConnection, n: Names, store: Store, log: Logger, concurrency = 4, health = new DbHealth(log)): IngesterHandle {
  const stats: IngesterStats = { results: 0, duplicates: 0, failures: 0, dead: 0, retries: 0 };
  let stopping = false;
  let stopMessages: () => void = () => {};
  const js = jetstream(nc);

  const handle = async (msg: JsMsg) => {
    try {
      await ingestMessage(store, msg, log, stats);
      health.ok();
      msg.ack(); // after the commit; a lost ack only means a harmless redelivery
    } catch (e) {
      const err = e as Error;
      if (isPermanent(err)) {
        log.error('unreadable result message terminated', { seq: msg.seq, error: err.message });
        msg.term(err.message);
      } else {
        stats.retries++;
        health.failed(err, 'storing a result');
        msg.nak(1000);
        await sleep(500);
      }
    }
  };

  // a continuous pull (consume) with up to 64 messages buffered, stored with `concurrency`
  // transactions in flight
  const loop = (async () => {
    while (!stopping) {
      try {
        const consumer = await js.consumers.get(n.results, n.ingestConsumer);
        const messages = await consumer.consume({ max_messages: 64, expires: 2000 });
        stopMessages = () => messages.stop();
        const inflight = new Set<Promise<void>>();
        for await (const m of messages) {
          const p: Promise<void> = handle(m).finally(() => inflight.delete(p));
          inflight.add(p);
          if (inflight.size >= concurrency) await Promise.race(inflight);
          if (stopping) break;
        }
        await Promise.all(inflight);
      } catch (e) {
        if (!stopping) log.debug('results consumer failed; retrying', { error: (e as Error).message });
      }
      if (!stopping) await sleep(500);
    }
  })();

  const advisories = [`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${n.tasks}.${n.agentsConsumer}`, `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${n.tasks}.${n.agentsConsumer}`];
  let jsm: Promise<JetStreamManager> | null = null; // made once, on the first advisory
  const subs = advisories.map((subject) => {
    const sub = nc.subscribe(subject);
    (async () => {
      for await (const m of sub) {
        try {
          const a = JSON.parse(new TextDecoder().decode(m.data)) as { stream_seq: number; deliveries?: number; reason?: string };
          const mgr = await (jsm ??= jetstreamManager(nc).catch((e: unknown) => {
            jsm = null; // try again at the next advisory
            throw e;
          }));
          const stored = await mgr.streams.getMessage(n.tasks, { seq: a.stream_seq }).catch(() => null);
          if (!stored) continue; // terminated messages are gone; the agent reported their reason itself
          const task = decodeWire(taskSchema, stored.data, 'task');
          // the agents' failure reports travel on the results stream and may land a moment later
          for (let wait = 0; wait < 10 && !(await store.tasks.error(task.key).catch(() => null)); wait++) await sleep(200);
          for (let tries = 0; ; tries++) {
            try {
              const reason = (await store.tasks.error(task.key)) ?? a.reason ?? 'no agent could finish it';
              await store.tasks.recordDead(task.key, task.sweepId, `gave up after ${a.deliveries ?? '?'} deliveries: ${reason}`, a.deliveries ?? null);
              break;
            } catch (e) {
              if (tries > 60) throw e;
              await sleep(1000);
            }
          }
          await mgr.streams.deleteMessage(n.tasks, a.stream_seq).catch(() => false);
          stats.dead++;
          log.warn('task is dead (max deliveries)', { task: task.key, deliveries: a.deliveries });
        } catch (e) {
          const cause = describeDbError(e);
          log.error('could not handle an advisory', { subject, cause: causeText(cause) });
        }
      }
    })();
    return sub;
  });

  return {
    stats,
    stop: async () => {
      stopping = true;
      stopMessages();
      for (const s of subs) s.unsubscribe();
      await loop;
    },
  };
}
