/**
 * Per-sample results and batch metrics: one result message (or one part of it) written as ONE SQL
 * statement, so the ingest rate stays close to the database's own (npm run bench:queue).
 */
import { sql } from 'drizzle-orm';
import { batchMetrics, sampleResults, tasks } from '../../schema/tables.ts';
import type { TaskResult } from '../../schema/wire.ts';
import type { Db } from './connection.ts';

/** A PostgreSQL array literal of numbers: `{1,2,3}`. */
const arrayLiteral = (a: number[]) => `{${a.join(',')}}`;
/** A PostgreSQL array literal of array literals, as text[] to be cast per row: `{"{1,2}","{3}"}`. */
const nestedLiteral = (a: number[][]) => `{${a.map((x) => `"${arrayLiteral(x)}"`).join(',')}}`;
const boolLiteral = (a: boolean[]) => `{${a.map((x) => (x ? 't' : 'f')).join(',')}}`;
const nullableLiteral = (a: Array<number | null>) => `{${a.map((x) => (x == null ? 'NULL' : String(x))).join(',')}}`;

export class Results {
  constructor(private readonly db: Db) {}

  /**
   * Write one result message as ONE SQL statement (one transaction, one round trip, one commit):
   * per-sample rows and batch metrics are upserted from arrays (unnest: a fixed 20 parameters
   * whatever the number of rows, so the bind-parameter limit never applies), and the task becomes
   * 'done' when every planned sample has its row. The first complete result wins: a message for
   * a task that is already done (a speculative copy, a late redelivery) writes nothing, unless it
   * is a later part of a multi-part result. Returns whether the message was applied.
   */
  async record(r: TaskResult): Promise<boolean> {
    const lit = arrayLiteral;
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
          ${boolLiteral(S.map((x) => x.success))}::boolean[], ${lit(S.map((x) => x.l0))}::int[],
          ${lit(S.map((x) => x.l1))}::float8[], ${lit(S.map((x) => x.l2))}::float8[], ${lit(S.map((x) => x.linf))}::float8[],
          ${nestedLiteral(S.map((x) => x.pertIndices))}::text[], ${nestedLiteral(S.map((x) => x.pertValues))}::text[]
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
          ${nullableLiteral(B.map((x) => x.peakBytesDevice))}::bigint[]
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
}
