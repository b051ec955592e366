/**
 * Result store: drizzle-orm over PGlite (embedded, a folder under the data directory) or
 * PostgreSQL (`pg`, when a DATABASE_URL is given). Same schema and migrations for both.
 * Every write is an idempotent upsert on natural keys; a task's results are written in one
 * transaction, bulk rows chunked under PostgreSQL's 65535 bind-parameter limit.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { batchMetrics, deadTasks, sampleResults, sweeps, tasks } from '../schema/tables.ts';
import { taskSchema, type Task, type TaskResult } from '../schema/wire.ts';

export const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'schema', 'migrations');

type Db = PgDatabase<PgQueryResultHKT, Record<string, never>>;

export interface StoreLocation {
  /** postgres://… ; when absent, PGlite in `dataDir` */
  databaseUrl?: string;
  dataDir?: string;
}

export interface SummaryRow {
  sweepId: string;
  dataset: string;
  model: string;
  attack: string;
  steps: number;
  n: number;
  asr10: number;
  asr24: number;
  asr50: number;
  asr100: number;
  asr150: number;
  asrInf: number;
  medianL0: number;
  secondsPerSample: number | null;
  queriesPerSample: number | null;
  peakBytesLogical: number | null;
  peakBytesDevice: number | null;
  backends: string | null;
  /** fixed-budget groups: the budget k and ASR at k */
  budget: number | null;
  asrBudget: number | null;
}

/** Rows per INSERT so that rows × columns stays under PostgreSQL's 65535 bind parameters. */
export function chunkRows<T>(rows: T[], columns: number, limit = 65535): T[][] {
  const per = Math.max(1, Math.floor(limit / columns));
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += per) out.push(rows.slice(i, i + per));
  return out;
}

export class Store {
  private constructor(
    readonly db: Db,
    readonly kind: 'pglite' | 'postgres',
    readonly where: string,
    private readonly closer: () => Promise<void>,
    /**
     * Bind parameters per statement: PostgreSQL's wire protocol allows 65535; PGlite's
     * protocol parser reads the count as a signed 16-bit number, so it gets 32767.
     */
    private readonly paramLimit: number,
  ) {}

  static async open(loc: StoreLocation = {}): Promise<Store> {
    if (loc.databaseUrl) {
      const { default: pg } = await import('pg');
      const { drizzle } = await import('drizzle-orm/node-postgres');
      const { migrate } = await import('drizzle-orm/node-postgres/migrator');
      const pool = new pg.Pool({ connectionString: loc.databaseUrl, max: 8 });
      // an idle client losing its connection (server restart, network cut) must not crash the
      // process; the next query gets a fresh connection or a clear error
      pool.on('error', () => {});
      const db = drizzle(pool);
      await migrate(db, { migrationsFolder: MIGRATIONS_DIR });
      return new Store(db as unknown as Db, 'postgres', redactUrl(loc.databaseUrl), () => pool.end(), 65535);
    }
    const dir = path.resolve(loc.dataDir ?? '.sigma-sweep', 'pglite');
    mkdirSync(dir, { recursive: true });
    const { PGlite } = await import('@electric-sql/pglite');
    const { drizzle } = await import('drizzle-orm/pglite');
    const { migrate } = await import('drizzle-orm/pglite/migrator');
    const client = new PGlite(dir);
    const db = drizzle(client);
    await migrate(db, { migrationsFolder: MIGRATIONS_DIR });
    return new Store(db as unknown as Db, 'pglite', dir, () => client.close(), 32767);
  }

  async close(): Promise<void> {
    await this.closer();
  }

  async upsertSweep(id: string, name: string, spec: unknown): Promise<void> {
    await this.db.insert(sweeps).values({ id, name, spec }).onConflictDoNothing();
  }

  /** Insert planned tasks; existing tasks (same key) keep their state. */
  async upsertTasks(list: Task[]): Promise<void> {
    const rows = list.map((t) => ({
      key: t.key,
      sweepId: t.sweepId,
      dataset: t.dataset.name,
      split: t.dataset.split,
      sampleIndices: t.sampleIndices,
      model: t.model.name,
      modelSha256: t.model.sha256,
      attackLabel: t.attack.label,
      attack: t.attack.name,
      attackOptions: t.attack.options,
      steps: t.steps,
      batchSize: t.batchSize,
      seed: t.seed,
    }));
    for (const chunk of chunkRows(rows, 13, this.paramLimit)) await this.db.insert(tasks).values(chunk).onConflictDoNothing();
  }

  /** A planned task as it was published (the inverse of upsertTasks), or null. */
  async getTask(key: string): Promise<Task | null> {
    const [r] = await this.db.select().from(tasks).where(eq(tasks.key, key));
    if (!r) return null;
    return taskSchema.parse({
      key: r.key,
      sweepId: r.sweepId,
      dataset: { name: r.dataset, split: r.split },
      sampleIndices: r.sampleIndices,
      model: { name: r.model, sha256: r.modelSha256 },
      attack: { label: r.attackLabel, name: r.attack, options: r.attackOptions },
      steps: r.steps,
      batchSize: r.batchSize,
      seed: r.seed,
    });
  }

  /** Keys among `keys` whose task is done with a result row for every planned sample. */
  async completeTaskKeys(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const done = new Set<string>();
    for (const chunk of chunkRows(keys, 1, 10000)) {
      const rows = await this.db
        .select({ key: tasks.key })
        .from(tasks)
        .where(
          and(
            inArray(tasks.key, chunk),
            eq(tasks.status, 'done'),
            sql`cardinality(${tasks.sampleIndices}) = (select count(*) from ${sampleResults} r where r.task_key = ${tasks.key})`,
          ),
        );
      for (const r of rows) done.add(r.key);
    }
    return done;
  }

  async markRunning(key: string, agent: string): Promise<void> {
    await this.db
      .update(tasks)
      .set({ status: 'running', agent, startedAt: new Date(), attempts: sql`${tasks.attempts} + 1` })
      .where(eq(tasks.key, key));
  }

  async markFailed(key: string, error: string): Promise<void> {
    await this.db.update(tasks).set({ status: 'failed', error, finishedAt: new Date() }).where(eq(tasks.key, key));
  }

  /**
   * Write one result message as ONE SQL statement (one transaction, one round trip, one commit):
   * per-sample rows and batch metrics are upserted from arrays (unnest: a fixed 20 parameters
   * whatever the number of rows, so the bind-parameter limit never applies), and the task becomes
   * 'done' when every planned sample has its row. The first complete result wins: a message for
   * a task that is already done (a speculative copy, a late redelivery) writes nothing, unless it
   * is a later part of a multi-part result. Returns whether the message was applied.
   */
  async recordResult(r: TaskResult): Promise<boolean> {
    const lit = (a: number[]) => `{${a.join(',')}}`;
    const quoted = (a: number[][]) => `{${a.map((x) => `"${lit(x)}"`).join(',')}}`;
    const S = r.samples;
    const B = r.batches;
    const part = r.part ?? 0;
    const sampleIdx = lit(S.map((x) => x.datasetIndex));
    const batchIdx = lit(B.map((x) => x.batchIndex));
    const res = (await this.db.execute(sql`
      with gate as (
        select (${part}::int > 0 or t.status <> 'done') as go from ${tasks} t where t.key = ${r.taskKey}
      ), s as (
        insert into ${sampleResults} (task_key, dataset_index, label, clean_pred, adv_pred, success, l0, l1, l2, linf, pert_indices, pert_values)
        select ${r.taskKey}, u.i, u.label, u.cp, u.ap, u.ok, u.l0, u.l1, u.l2, u.linf, u.pi::int[], u.pv::real[]
        from unnest(
          ${sampleIdx}::int[], ${lit(S.map((x) => x.label))}::int[],
          ${lit(S.map((x) => x.cleanPred))}::int[], ${lit(S.map((x) => x.advPred))}::int[],
          ${`{${S.map((x) => (x.success ? 't' : 'f')).join(',')}}`}::boolean[], ${lit(S.map((x) => x.l0))}::int[],
          ${lit(S.map((x) => x.l1))}::float8[], ${lit(S.map((x) => x.l2))}::float8[], ${lit(S.map((x) => x.linf))}::float8[],
          ${quoted(S.map((x) => x.pertIndices))}::text[], ${quoted(S.map((x) => x.pertValues))}::text[]
        ) as u(i, label, cp, ap, ok, l0, l1, l2, linf, pi, pv)
        where (select go from gate)
        on conflict (task_key, dataset_index) do update set
          label = excluded.label, clean_pred = excluded.clean_pred, adv_pred = excluded.adv_pred, success = excluded.success,
          l0 = excluded.l0, l1 = excluded.l1, l2 = excluded.l2, linf = excluded.linf,
          pert_indices = excluded.pert_indices, pert_values = excluded.pert_values
        returning 1
      ), b as (
        insert into ${batchMetrics} (task_key, batch_index, size, seconds, forwards, backwards, peak_bytes_logical, peak_bytes_device, backend, device)
        select ${r.taskKey}, u.i, u.size, u.sec, u.f, u.b, u.pl, u.pd, ${r.backend}, ${r.device}
        from unnest(
          ${batchIdx}::int[], ${lit(B.map((x) => x.size))}::int[], ${lit(B.map((x) => x.seconds))}::float8[],
          ${lit(B.map((x) => x.forwards))}::bigint[], ${lit(B.map((x) => x.backwards))}::bigint[], ${lit(B.map((x) => x.peakBytesLogical))}::bigint[],
          ${`{${B.map((x) => (x.peakBytesDevice == null ? 'NULL' : String(x.peakBytesDevice))).join(',')}}`}::bigint[]
        ) as u(i, size, sec, f, b, pl, pd)
        where (select go from gate)
        on conflict (task_key, batch_index) do update set
          size = excluded.size, seconds = excluded.seconds, forwards = excluded.forwards, backwards = excluded.backwards,
          peak_bytes_logical = excluded.peak_bytes_logical, peak_bytes_device = excluded.peak_bytes_device,
          backend = excluded.backend, device = excluded.device
        returning 1
      ), counts as (
        -- what the task will hold after this statement: rows it had outside this message, plus this message's
        select
          (select count(*) from ${sampleResults} x where x.task_key = ${r.taskKey} and x.dataset_index <> all(${sampleIdx}::int[])) + ${S.length}::int as samples,
          (select count(*) from ${batchMetrics} x where x.task_key = ${r.taskKey} and x.batch_index <> all(${batchIdx}::int[])) + ${B.length}::int as batches,
          (select coalesce(sum(x.seconds), 0) from ${batchMetrics} x where x.task_key = ${r.taskKey} and x.batch_index <> all(${batchIdx}::int[]))
            + ${B.reduce((a, x) => a + x.seconds, 0)}::float8 as seconds
      ), u as (
        update ${tasks} t set
          status = 'done', agent = ${r.agent}, backend = ${r.backend}, device = ${r.device}, error = null,
          attempts = greatest(t.attempts, ${r.attempt}::int),
          started_at = ${r.startedAt}::timestamptz, finished_at = ${r.finishedAt}::timestamptz,
          seconds = (select seconds from counts)
        where t.key = ${r.taskKey} and (select go from gate)
          and cardinality(t.sample_indices) = (select samples from counts) and (select batches from counts) > 0
        returning 1
      )
      select coalesce((select go from gate), false) as applied, (select count(*) from s)::int as rows, (select count(*) from u)::int as done`)) as unknown as {
      rows: { applied: boolean; rows: number; done: number }[];
    };
    return Boolean(res.rows[0]?.applied);
  }

  /** True when the task already has its complete result (first result wins over speculative copies). */
  async isComplete(key: string): Promise<boolean> {
    return (await this.completeTaskKeys([key])).has(key);
  }

  async markQueued(keys: string[]): Promise<void> {
    for (const chunk of chunkRows(keys, 1, 10000)) {
      await this.db
        .update(tasks)
        .set({ status: 'queued', publishes: sql`${tasks.publishes} + 1` })
        .where(inArray(tasks.key, chunk));
    }
  }

  async publishCounts(keys: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const chunk of chunkRows(keys, 1, 10000)) {
      const rows = await this.db.select({ key: tasks.key, n: tasks.publishes }).from(tasks).where(inArray(tasks.key, chunk));
      for (const r of rows) out.set(r.key, r.n);
    }
    return out;
  }

  /** A dead letter: the task will not run again until resubmitted. */
  async recordDead(taskKey: string, sweepId: string, reason: string, deliveries: number | null): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx
        .insert(deadTasks)
        .values({ taskKey, sweepId, reason, deliveries })
        .onConflictDoUpdate({ target: deadTasks.taskKey, set: { reason, deliveries, recordedAt: new Date() } });
      await tx.update(tasks).set({ status: 'dead', error: reason, finishedAt: new Date() }).where(eq(tasks.key, taskKey));
    });
  }

  async clearDead(keys: string[]): Promise<void> {
    for (const chunk of chunkRows(keys, 1, 10000)) await this.db.delete(deadTasks).where(inArray(deadTasks.taskKey, chunk));
  }

  async recordError(taskKey: string, reason: string): Promise<void> {
    await this.db.update(tasks).set({ error: reason }).where(eq(tasks.key, taskKey));
  }

  async taskError(taskKey: string): Promise<string | null> {
    const [row] = await this.db.select({ error: tasks.error }).from(tasks).where(eq(tasks.key, taskKey));
    return row?.error ?? null;
  }

  async sweepStatus(sweepId: string) {
    const counts = await this.db
      .select({ status: tasks.status, n: sql<number>`count(*)::int`, samples: sql<number>`coalesce(sum(cardinality(${tasks.sampleIndices})), 0)::int`, seconds: sql<number>`coalesce(sum(${tasks.seconds}), 0)::float8` })
      .from(tasks)
      .where(eq(tasks.sweepId, sweepId))
      .groupBy(tasks.status);
    const dead = await this.db.select().from(deadTasks).where(eq(deadTasks.sweepId, sweepId));
    const [first] = await this.db
      .select({ started: sql<string | null>`min(${tasks.startedAt})::text`, last: sql<string | null>`max(${tasks.finishedAt})::text` })
      .from(tasks)
      .where(eq(tasks.sweepId, sweepId));
    return { counts, dead, started: first?.started ?? null, lastFinished: first?.last ?? null };
  }

  /** Median seconds of the finished tasks of a sweep (straggler detection). */
  async medianTaskSeconds(sweepId: string): Promise<number | null> {
    const res = (await this.db.execute(
      sql`select percentile_cont(0.5) within group (order by seconds)::float8 as m from ${tasks} where sweep_id = ${sweepId} and status = 'done' and seconds is not null`,
    )) as unknown as { rows: { m: number | null }[] };
    return res.rows[0]?.m ?? null;
  }

  async summary(sweepId: string): Promise<SummaryRow[]> {
    const res = await this.db.execute(sql`
      select sweep_id, dataset, model, attack, steps, n, asr_10, asr_24, asr_50, asr_100, asr_150, asr_inf,
             median_l0, seconds_per_sample, queries_per_sample, peak_bytes_logical, peak_bytes_device, backends,
             budget, asr_budget
      from attack_summary where sweep_id = ${sweepId}
      order by dataset, model, steps, attack`);
    const rows = (res as unknown as { rows: Record<string, unknown>[] }).rows;
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    return rows.map((r) => ({
      sweepId: String(r.sweep_id),
      dataset: String(r.dataset),
      model: String(r.model),
      attack: String(r.attack),
      steps: Number(r.steps),
      n: Number(r.n),
      asr10: Number(r.asr_10),
      asr24: Number(r.asr_24),
      asr50: Number(r.asr_50),
      asr100: Number(r.asr_100),
      asr150: Number(r.asr_150),
      asrInf: Number(r.asr_inf),
      medianL0: Number(r.median_l0),
      secondsPerSample: num(r.seconds_per_sample),
      queriesPerSample: num(r.queries_per_sample),
      peakBytesLogical: num(r.peak_bytes_logical),
      peakBytesDevice: num(r.peak_bytes_device),
      backends: r.backends == null ? null : String(r.backends),
      budget: num(r.budget),
      asrBudget: num(r.asr_budget),
    }));
  }

  async sweepIds(): Promise<{ id: string; name: string; createdAt: Date }[]> {
    return this.db.select({ id: sweeps.id, name: sweeps.name, createdAt: sweeps.createdAt }).from(sweeps).orderBy(sweeps.createdAt);
  }

  /** Run arbitrary SQL (the `sql` subcommand). */
  async query(text: string): Promise<{ fields: string[]; rows: Record<string, unknown>[] }> {
    const res = (await this.db.execute(sql.raw(text))) as unknown as { rows: Record<string, unknown>[]; fields?: { name: string }[] };
    const fields = res.fields?.map((f) => f.name) ?? Object.keys(res.rows[0] ?? {});
    return { fields, rows: res.rows };
  }
}

/** postgres://user:secret@host/db → postgres://user:***@host/db (never log secrets). */
export function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return '(unparseable database url)';
  }
}
