/**
 * What the tables read from the database. Every figure comes from the views over the stored
 * per-sample rows: attack_summary (Reports.summary) for the standard columns, and for ASR at a k
 * that attack_summary has no column for, the one query below (README "Tables" prints it, so that
 * `sigma-sweep sql` re-derives the same numbers).
 */
import type { Store } from '../db/store.ts';
import { STANDARD_KS, type TableRow } from './layouts.ts';

/** A SQL string literal (sweep ids are [A-Za-z0-9._-] already; quoted all the same). */
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * ASR_k for any k ≥ 0, per group (sweep, dataset, model, attack, steps), over all N samples of the
 * group, failures never counting (l0_eff = ∞): attack_summary's definition for its fixed k.
 */
export function asrAtKSql(sweepIds: readonly string[], ks: readonly number[]): string {
  for (const k of ks) if (!Number.isSafeInteger(k) || k < 0) throw new Error(`k must be a whole number ≥ 0, not ${k}`);
  return [
    'SELECT s.sweep_id, s.dataset, s.model, s.attack_label AS attack, s.steps, k.k,',
    '       (100.0 * count(*) FILTER (WHERE s.l0_eff <= k.k) / count(*))::float8 AS asr',
    `FROM sample_l0 s CROSS JOIN unnest(ARRAY[${ks.join(', ')}]::int[]) AS k(k)`,
    `WHERE s.sweep_id IN (${sweepIds.map(literal).join(', ')})`,
    'GROUP BY s.sweep_id, s.dataset, s.model, s.attack_label, s.steps, k.k',
    'ORDER BY 1, 2, 3, 4, 5, 6',
  ].join('\n');
}

const groupKey = (r: { sweepId: string; dataset: string; model: string; attack: string; steps: number }) => JSON.stringify([r.sweepId, r.dataset, r.model, r.attack, r.steps]);

/**
 * The summary rows of the sweeps, in the order given, with ASR at every k in `ks` that
 * attack_summary has no column for.
 */
export async function loadTableRows(store: Store, sweepIds: readonly string[], ks: readonly number[] = []): Promise<TableRow[]> {
  const rows: TableRow[] = [];
  for (const id of sweepIds) rows.push(...(await store.reports.summary(id)));
  const extra = [...new Set(ks)].filter((k) => !(STANDARD_KS as readonly number[]).includes(k));
  if (!extra.length || !rows.length) return rows;
  const { rows: asr } = await store.reports.query(asrAtKSql(sweepIds, extra));
  const at = new Map<string, Record<number, number>>();
  for (const a of asr) {
    const key = groupKey({ sweepId: String(a.sweep_id), dataset: String(a.dataset), model: String(a.model), attack: String(a.attack), steps: Number(a.steps) });
    at.set(key, { ...at.get(key), [Number(a.k)]: Number(a.asr) });
  }
  return rows.map((r) => ({ ...r, asrAt: at.get(groupKey(r)) ?? {} }));
}

/** What a table calls each sweep: its name, or its id where two of the chosen sweeps share a name (two runs of one spec). */
export async function sweepLabels(store: Store, sweepIds: readonly string[]): Promise<Map<string, string>> {
  const all = await store.sweeps.list();
  const names = sweepIds.map((id) => all.find((s) => s.id === id)?.name ?? id);
  return new Map(sweepIds.map((id, i) => [id, names.indexOf(names[i]) === names.lastIndexOf(names[i]) ? names[i] : id]));
}
