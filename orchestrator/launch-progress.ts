/**
 * What both ways of launching agents (a Kubernetes Job, local processes) ask before and while they
 * run: is there anything to run (the database says which tasks are not done, JetStream whether
 * they are queued), is the sweep done, and a wait that ends early when something happens.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Names } from '../protocol/names.ts';
import type { Store } from './db/store.ts';
import { BadInputError } from '../schema/errors.ts';
import { EXIT, ExitCodeError } from './exit-code.ts';
import { ingestBacklog, sweepTaskBacklog } from './nats/backlog.ts';
import { sweepCounts } from './orchestrate.ts';

export interface SweepProgress {
  total: number;
  done: number;
  dead: number;
  /** every task done or dead */
  finished: boolean;
}

export async function sweepProgress(store: Store, sweepId: string): Promise<SweepProgress> {
  const c = await sweepCounts(store, sweepId);
  return { total: c.total, done: c.done, dead: c.deadCount, finished: c.total > 0 && c.done + c.deadCount >= c.total };
}

/** Why no agent needs to start, or how many tasks wait for one. */
export type Readiness = { run: false; why: string } | { run: true; queued: number };

/**
 * Before launching: a finished sweep, or one whose every task has run and only waits for its
 * results to be stored, needs no agents; a sweep with unfinished tasks none of which is queued is
 * bad input (it was never submitted to this NATS namespace).
 */
export async function launchReadiness(store: Store, nc: NatsConnection, n: Names, sweepId: string): Promise<Readiness> {
  const p = await sweepProgress(store, sweepId);
  if (p.finished) return { run: false, why: `sweep ${sweepId} is done (${p.done} done, ${p.dead} dead of ${p.total}): nothing to launch` };
  const queued = (await sweepTaskBacklog(nc, n, sweepId)) ?? 0;
  if (queued > 0) return { run: true, queued };
  const b = await ingestBacklog(nc, n);
  if (b && b.pending + b.inFlight > 0) return { run: false, why: `every task of sweep ${sweepId} has run; ${b.pending + b.inFlight} result message(s) wait in NATS for \`sigma-sweep orchestrate\` to store them` };
  throw new BadInputError(
    `sweep ${sweepId}: ${p.total - p.done - p.dead} task(s) are not done, but none is queued in NATS namespace '${n.ns}': ` +
      'queue them with `sigma-sweep submit <spec>` (or check --ns)',
  );
}

/** The end of a launch whose sweep finished: dead tasks make it a failure (their results are missing). */
export function finishedOutcome(p: SweepProgress, sweepId: string): void {
  if (p.dead > 0) {
    throw new ExitCodeError(EXIT.failure, `sweep ${sweepId} finished with ${p.dead} dead task(s) of ${p.total}: \`sigma-sweep status --sweep ${sweepId}\` lists their reasons`);
  }
}

/** A pause that `wake()` (or an abort) ends early. */
export class Wakeup {
  private waker: AbortController | null = null;
  private pending = false;

  async wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.pending || signal?.aborted) {
      this.pending = false;
      return;
    }
    const ac = new AbortController();
    this.waker = ac;
    const stop = () => ac.abort();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await sleep(ms, undefined, { signal: ac.signal }).catch(() => {});
    } finally {
      signal?.removeEventListener('abort', stop);
      this.waker = null;
      this.pending = false;
    }
  }

  wake(): void {
    if (this.waker) this.waker.abort();
    else this.pending = true;
  }
}
