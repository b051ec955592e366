/**
 * What reports read: the paper table (attack_summary, computed by SQL), a sweep's progress, and
 * arbitrary queries for `sigma-sweep sql`.
 */
import { eq, sql } from 'drizzle-orm';
import { deadTasks, tasks } from '../../schema/tables.ts';
import type { Db } from './connection.ts';
import { inTransaction, type RawResult } from './raw-query.ts';

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
  budgetUnit: string | null;
  asrBudget: number | null;
}

/** attack_summary row → SummaryRow: numbers as numbers (drivers return bigint and numeric as strings). */
function summaryRow(r: Record<string, unknown>): SummaryRow {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
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
    budgetUnit: r.budget_unit == null ? null : String(r.budget_unit),
    asrBudget: num(r.asr_budget),
  };
}

/** Options of a raw `query` (the `sql` command). */
export interface RawQueryOptions {
  raw: true;
  write?: boolean;
  accept?: (r: RawResult) => void;
}

export class Reports {
  constructor(private readonly db: Db) {}

  async summary(sweepId: string): Promise<SummaryRow[]> {
    const res = await this.db.execute(sql`
      select sweep_id, dataset, model, attack, steps, n, asr_10, asr_24, asr_50, asr_100, asr_150, asr_inf,
             median_l0, seconds_per_sample, queries_per_sample, peak_bytes_logical, peak_bytes_device, backends,
             budget, budget_unit, asr_budget
      from attack_summary where sweep_id = ${sweepId}
      order by dataset, model, steps, attack`);
    return (res as unknown as { rows: Record<string, unknown>[] }).rows.map(summaryRow);
  }

  async progress(sweepId: string) {
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

  /**
   * Run arbitrary SQL. Without options (tests, benchmarks): rows as objects keyed by column name,
   * values parsed by the driver, no transaction of its own. With `{ raw: true }` (the `sql`
   * command): one statement in its own transaction, read-only (always rolled back) unless
   * `write`; rows positionally (duplicate column names stay apart), values as PostgreSQL's text.
   * `accept` sees the result before the commit: throwing there rolls the statement back.
   */
  query(text: string): Promise<{ fields: string[]; rows: Record<string, unknown>[] }>;
  query(text: string, opts: RawQueryOptions): Promise<RawResult>;
  async query(text: string, opts?: RawQueryOptions): Promise<RawResult | { fields: string[]; rows: Record<string, unknown>[] }> {
    if (opts?.raw)
      return inTransaction(this.db, opts.write ? 'read-write' : 'read-only', async (q) => {
        const r = await q(text);
        opts.accept?.(r);
        return r;
      });
    const res = (await this.db.execute(sql.raw(text))) as unknown as { rows: Record<string, unknown>[]; fields?: { name: string }[] };
    const fields = res.fields?.map((f) => f.name) ?? Object.keys(res.rows[0] ?? {});
    return { fields, rows: res.rows };
  }
}
