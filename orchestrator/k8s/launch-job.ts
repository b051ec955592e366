/**
 * `launch --sweep ID` on Kubernetes: one Job per sweep (job.ts), sized and re-sized by the sweep's
 * queue depth (scaler.ts), its pods watched (pod-watch.ts) and recorded where `status` reads them
 * (launches.ts), deleted when the sweep is done unless --keep. Nothing is created before the pod
 * list has proved the permission, so a launcher without RBAC leaves nothing behind.
 *
 * The launcher is not needed for the Job to finish: the agents leave by themselves when the queue
 * is empty, and ttlSecondsAfterFinished / activeDeadlineSeconds bound its life. Stopping the
 * launcher (SIGINT/SIGTERM) therefore leaves the Job running and says how to take it over again.
 */
import type { V1Job } from '@kubernetes/client-node';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Names } from '../../protocol/names.ts';
import type { Logger } from '../../protocol/log.ts';
import type { Store } from '../db/store.ts';
import { EXIT, ExitCodeError } from '../exit-code.ts';
import { LaunchState } from '../launches.ts';
import { finishedOutcome, sweepProgress, Wakeup, type SweepProgress } from '../launch-progress.ts';
import { ingestBacklog, sweepTaskBacklog } from '../nats/backlog.ts';
import type { KubeClient } from './client.ts';
import { KubeApiError } from './errors.ts';
import { buildJob, jobName, podSelector, SWEEP_ANNOTATION, type JobOptions } from './job.ts';
import { PodWatcher } from './pod-watch.ts';
import { desiredAgents, type ScalePolicy } from './scaler.ts';

export interface JobLaunchOptions extends ScalePolicy {
  job: Omit<JobOptions, 'parallelism'>;
  /** tasks queued now (launchReadiness) */
  queued: number;
  intervalMs: number;
  keep: boolean;
  adopt: boolean;
  signal: AbortSignal;
  /** the pod watch's reconnect backoff (tests shorten it) */
  watchBackoff?: { minMs: number; maxMs: number };
}

export interface JobLaunchDeps {
  client: KubeClient;
  store: Store;
  nc: NatsConnection;
  n: Names;
  log: Logger;
  /** stdout: the Job's `namespace/name` once it exists */
  out: (s: string) => void;
}

const condition = (job: V1Job, type: string) => job.status?.conditions?.find((c) => c.type === type && c.status === 'True');

/** The Job's own pod counts, for status. */
function jobCounts(job: V1Job) {
  const s = job.status ?? {};
  return { active: s.active ?? 0, ready: s.ready ?? 0, succeeded: s.succeeded ?? 0, failed: s.failed ?? 0, suspended: job.spec?.suspend === true };
}

/** A failed Job ends the launch: exit 2 when an agent reported bad configuration, else 1. */
function jobFailed(job: V1Job, ns: string): ExitCodeError | null {
  const failed = condition(job, 'Failed');
  if (!failed) return null;
  const name = job.metadata?.name ?? '?';
  const logs = `\`kubectl logs -n ${ns} -l ${podSelector(job.metadata?.annotations?.[SWEEP_ANNOTATION] ?? '')} --tail 50\``;
  if (failed.reason === 'PodFailurePolicy') {
    return new ExitCodeError(EXIT.badInput, `Job ${ns}/${name} failed: an agent exited with code 2 (bad configuration: image, backend, flags): ${failed.message ?? ''}; see ${logs}`);
  }
  return new ExitCodeError(EXIT.failure, `Job ${ns}/${name} failed (${failed.reason ?? 'unknown reason'}): ${failed.message ?? ''}; see ${logs}`);
}

/** Create the Job, or with --adopt take over the one this sweep already has. */
async function createOrAdopt(client: KubeClient, o: JobLaunchOptions, parallelism: number, log: Logger): Promise<{ job: V1Job; adopted: boolean }> {
  const ns = o.job.namespace;
  const name = jobName(o.job.sweepId);
  if (o.adopt) {
    const existing = await client.readJob(ns, name);
    if (existing) {
      const owner = existing.metadata?.annotations?.[SWEEP_ANNOTATION];
      if (owner !== o.job.sweepId) {
        throw new ExitCodeError(EXIT.conflict, `--adopt: Job ${ns}/${name} exists but belongs to ${owner ? `sweep ${owner}` : 'no sweep (not made by launch)'}; delete it or use another --namespace`);
      }
      log.info('adopted the existing Job', { job: `${ns}/${name}`, parallelism: existing.spec?.parallelism });
      return { job: existing, adopted: true };
    }
  }
  try {
    return { job: await client.createJob(ns, buildJob({ ...o.job, parallelism }), o.job.sweepId), adopted: false };
  } catch (e) {
    throw e instanceof KubeApiError ? e : new ExitCodeError(EXIT.failure, (e as Error).message);
  }
}

export async function launchJob(deps: JobLaunchDeps, o: JobLaunchOptions): Promise<SweepProgress> {
  const { client, store, nc, n, log } = deps;
  const ns = o.job.namespace;
  const sweepId = o.job.sweepId;
  const name = jobName(sweepId);
  const where = `${ns}/${name}`;
  const wakeup = new Wakeup();
  // written once the Job is ours (created or adopted)
  const state = new LaunchState(nc, n, { sweepId, mode: 'kubernetes', where, agents: 0, job: null, pods: [], state: 'running', message: null }, log, 250, { activeNow: false });
  const watcher = new PodWatcher(client, ns, podSelector(sweepId), log, (pods) => state.update({ pods }), o.watchBackoff);
  // the list proves the permission to read pods before anything is created
  await watcher.start();
  let parallelism = desiredAgents(o.queued, o);
  let outcome: SweepProgress | null = null;
  try {
    const { job, adopted } = await createOrAdopt(client, o, parallelism, log);
    parallelism = job.spec?.parallelism ?? parallelism;
    if (!adopted) log.info('Job created', { job: where, parallelism, queued: o.queued, image: o.job.image, kueue: o.job.queue ?? undefined });
    deps.out(`${where}\n`);
    state.update({ agents: parallelism, job: jobCounts(job) });
    await state.activate();

    let warnedIngest = false;
    for (;;) {
      await wakeup.wait(o.intervalMs, o.signal);
      if (o.signal.aborted) break;
      const p = await sweepProgress(store, sweepId);
      if (p.finished) {
        outcome = p;
        break;
      }
      const current = await client.readJob(ns, name);
      if (!current) throw new ExitCodeError(EXIT.failure, `Job ${where} is gone before sweep ${sweepId} was done (deleted by someone else?); launch again to continue`);
      const failed = jobFailed(current, ns);
      if (failed) {
        state.update({ state: 'failed', message: failed.message, job: jobCounts(current) });
        throw failed;
      }
      const remaining = (await sweepTaskBacklog(nc, n, sweepId)) ?? 0;
      const complete = condition(current, 'Complete');
      // Kueue admitted a fixed pod count: changing it would make Kueue evict and re-admit the Job
      if (!o.job.queue && !complete) {
        const want = desiredAgents(remaining, o);
        if (want !== current.spec?.parallelism) {
          await client.scaleJob(ns, name, want);
          log.info('scaled', { job: where, from: current.spec?.parallelism, to: want, remaining });
        }
        parallelism = want;
      }
      if (remaining === 0 && !warnedIngest) {
        const b = await ingestBacklog(nc, n);
        if (b && b.pending + b.inFlight > 0 && !b.ingesterPulling) {
          log.warn('every task has run but no ingester stores the results: run `sigma-sweep orchestrate` (or launch with --orchestrate)', { waiting: b.pending + b.inFlight });
          warnedIngest = true;
        }
      }
      state.update({ agents: parallelism, job: jobCounts(current) });
    }

    await watcher.stop(); // no pod event may overwrite the final record
    if (outcome) {
      if (o.keep) {
        log.info('sweep done; keeping the Job (--keep)', { job: where, done: outcome.done, dead: outcome.dead });
        state.update({ state: 'done', message: 'sweep done; Job kept (--keep)' });
      } else {
        const deleted = await client.deleteJob(ns, name);
        log.info(deleted ? 'sweep done; Job deleted' : 'sweep done; the Job was already gone', { job: where, done: outcome.done, dead: outcome.dead });
        state.update({ state: 'done', message: deleted ? 'sweep done; Job deleted' : 'sweep done', pods: [] });
      }
      await state.flush();
      finishedOutcome(outcome, sweepId);
      return outcome;
    }
    const how = `the Job keeps running; take it over again with \`sigma-sweep launch --sweep ${sweepId} --namespace ${ns} --adopt\`, or stop it with \`kubectl delete job ${name} -n ${ns}\``;
    state.update({ state: 'stopped', message: `launcher stopped; ${how}` });
    await state.flush();
    throw new ExitCodeError(o.signal.reason === 'SIGINT' ? EXIT.sigint : EXIT.sigterm, `launcher stopped (${String(o.signal.reason ?? 'signal')}): ${how}`);
  } catch (e) {
    if (state.record.state === 'running') {
      state.update({ state: 'failed', message: (e as Error).message });
      await state.flush();
    }
    throw e;
  } finally {
    await watcher.stop();
  }
}
