/**
 * What `launch` started for a sweep, where `status` can read it: a NATS KV bucket `<ns>_launches`
 * next to the agent registry, one entry per sweep, rewritten by the launcher whenever its pods (or
 * local agent processes) change and at every scaling step. NATS rather than a table: the launcher
 * already holds a NATS connection, the data is live state rather than results, and no migration
 * is needed. The entry stays after the launch ends (with its final state) until the next launch
 * of the same sweep replaces it.
 */
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import type { Names } from '../protocol/names.ts';
import type { Logger } from '../protocol/log.ts';

const podSchema = z.object({
  name: z.string(),
  phase: z.string(),
  restarts: z.number().int(),
  node: z.string().nullable(),
  reason: z.string().nullable(),
  exitCode: z.number().int().nullable(),
});

export const launchRecordSchema = z.object({
  sweepId: z.string(),
  mode: z.enum(['kubernetes', 'local']),
  /** `namespace/job` for Kubernetes, the host for local agents */
  where: z.string(),
  /** agents asked for now (the Job's parallelism, or the local process count) */
  agents: z.number().int().nonnegative(),
  /** the Job's own counts, from its status (Kubernetes only) */
  job: z.object({ active: z.number().int(), ready: z.number().int(), succeeded: z.number().int(), failed: z.number().int(), suspended: z.boolean() }).nullable(),
  pods: z.array(podSchema),
  state: z.enum(['running', 'done', 'failed', 'stopped']),
  message: z.string().nullable(),
  updatedAt: z.string(),
});
export type LaunchRecord = z.infer<typeof launchRecordSchema>;

/** The bucket's name: the agent registry's rule (protocol/names.ts) with `launches` for `agents`. */
export const launchesBucket = (n: Names) => n.agentsKv.replace(/_agents$/, '_launches');

/** KV keys may not hold every character a sweep id may (dots separate tokens): '.' becomes '='. */
export const launchKey = (sweepId: string) => sweepId.replace(/\./g, '=');

/** The launch record of a sweep, or null when none was written (or NATS has no such bucket). */
export async function readLaunch(nc: NatsConnection, n: Names, sweepId: string): Promise<LaunchRecord | null> {
  let kv: KV;
  try {
    kv = await new Kvm(nc).open(launchesBucket(n));
  } catch {
    return null;
  }
  try {
    const e = await kv.get(launchKey(sweepId));
    if (!e || e.operation !== 'PUT') return null;
    const r = launchRecordSchema.safeParse(JSON.parse(e.string()));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * The launcher's side: holds the record and writes it, coalescing bursts of pod events into at
 * most one write per `minGapMs`; `flush` writes now. Write failures are logged at debug level
 * (the next change writes again): status is a view, and the launch must not stop for it.
 */
export class LaunchState {
  private kv: KV | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastWrite = 0;
  private writing: Promise<void> = Promise.resolve();
  /** nothing is written before this (a launch refused by the API server must not replace the record of one that runs) */
  private active = false;
  record: LaunchRecord;

  constructor(
    private readonly nc: NatsConnection,
    private readonly n: Names,
    init: Omit<LaunchRecord, 'updatedAt'>,
    private readonly log: Logger,
    private readonly minGapMs = 250,
    { activeNow = true } = {},
  ) {
    this.record = { ...init, updatedAt: new Date().toISOString() };
    this.active = activeNow;
  }

  /** Start writing (the first write happens now). */
  activate(): Promise<void> {
    this.active = true;
    return this.flush();
  }

  /** Change the record; written soon. */
  update(patch: Partial<Omit<LaunchRecord, 'sweepId' | 'mode' | 'updatedAt'>>): void {
    this.record = { ...this.record, ...patch };
    if (this.timer || !this.active) return;
    const wait = Math.max(0, this.lastWrite + this.minGapMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, wait);
  }

  /** Write the record now (after any write in progress). */
  flush(): Promise<void> {
    if (!this.active) return this.writing;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.writing = this.writing.then(() => this.write());
    return this.writing;
  }

  private async write(): Promise<void> {
    this.lastWrite = Date.now();
    this.record = { ...this.record, updatedAt: new Date().toISOString() };
    try {
      this.kv ??= await new Kvm(this.nc).create(launchesBucket(this.n), { history: 1 });
      await this.kv.put(launchKey(this.record.sweepId), JSON.stringify(this.record));
    } catch (e) {
      this.log.debug('could not record the launch state', { error: (e as Error).message });
    }
  }
}

/** The launch as `status` prints it: a summary line, the final message, one line per pod or process. */
export function describeLaunch(r: LaunchRecord, now = Date.now()): string[] {
  const ago = Math.max(0, Math.round((now - Date.parse(r.updatedAt)) / 1000));
  const j = r.job;
  const head =
    r.mode === 'kubernetes'
      ? `launched: Job ${r.where}, ${r.agents} agent(s) wanted` +
        (j ? `; pods active ${j.active}, ready ${j.ready}, succeeded ${j.succeeded}, failed ${j.failed}${j.suspended ? ', suspended (waiting for Kueue to admit it)' : ''}` : '')
      : `launched: ${r.agents} local agent process(es) on ${r.where}`;
  const lines = [`${head}; ${r.state}, updated ${ago}s ago`];
  if (r.message && r.state !== 'running') lines.push(`  ${r.message}`);
  for (const p of r.pods) {
    const extra = [p.node ? `node=${p.node}` : '', p.reason ?? '', p.exitCode !== null ? `exit=${p.exitCode}` : ''].filter(Boolean).join(' ');
    lines.push(`  ${p.name} ${p.phase} restarts=${p.restarts}${extra ? ` ${extra}` : ''}`);
  }
  return lines;
}
