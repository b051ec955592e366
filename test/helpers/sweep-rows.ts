/** What a sweep left in the database: result rows (all and distinct), and tasks by status. */
import type { Store } from '../../orchestrator/db/store.ts';

export async function rowsOf(store: Store, sweepId: string): Promise<{ n: number; d: number; status: Record<string, number> }> {
  const { rows } = await store.reports.query(
    `select count(*)::int as n, count(distinct (task_key, dataset_index))::int as d from sample_results r join tasks t on t.key = r.task_key where t.sweep_id = '${sweepId}'`,
  );
  const { rows: st } = await store.reports.query(`select status, count(*)::int as n from tasks where sweep_id = '${sweepId}' group by status order by status`);
  return { ...(rows[0] as { n: number; d: number }), status: Object.fromEntries(st.map((r) => [r.status, r.n])) as Record<string, number> };
}
