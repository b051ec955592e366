/**
 * What a robustness-curve plot reads: the groups of a sweep (dataset, model, attack, steps, N, from
 * sample_l0) and their points from the robustness_curve view (one row per distinct finite ℓ0 k with
 * ASR = 100·#{ℓ0 ≤ k}/N). A group whose every sample failed has no row in the view; it still gets a
 * (flat, 0 %) line, which is why the groups are read separately.
 */
import { BadInputError } from '../../schema/errors.ts';
import type { Store } from '../db/store.ts';
import { sqlInt, sqlText } from './sql-literal.ts';

export interface CurvePoint {
  k: number;
  /** percent, 0–100 */
  asr: number;
}

export interface CurveSeries {
  dataset: string;
  model: string;
  attack: string;
  steps: number;
  n: number;
  /** finite ℓ0 values reached, ascending k */
  points: CurvePoint[];
}

export interface CurveFilter {
  models?: readonly string[];
  attacks?: readonly string[];
  steps?: number;
}

const keyOf = (r: Record<string, unknown>) => JSON.stringify([String(r.dataset), String(r.model), String(r.attack), Number(r.steps)]);

/** Names asked for that the sweep does not have: a bad-input error that lists what it has. */
function checkNames(flag: string, asked: readonly string[] | undefined, have: string[]): void {
  const missing = (asked ?? []).filter((a) => !have.includes(a));
  if (missing.length) throw new BadInputError(`${flag}: ${missing.map((m) => `'${m}'`).join(', ')} not in this sweep (have: ${have.join(', ')})`);
}

/** The curves of one sweep, filtered; a filter naming something the sweep lacks is bad input. */
export async function readCurves(store: Store, sweepId: string, filter: CurveFilter = {}): Promise<CurveSeries[]> {
  const { rows: groups } = await store.reports.query(
    `select dataset, model, attack_label as attack, steps, count(*)::int as n from sample_l0 where sweep_id = ${sqlText(sweepId)}
     group by dataset, model, attack_label, steps order by dataset, model, attack_label, steps`,
  );
  if (!groups.length) throw new BadInputError(`sweep ${sweepId} has no results yet: nothing to plot`);
  const distinct = (f: (r: Record<string, unknown>) => unknown) => [...new Set(groups.map(f))];
  checkNames('--models', filter.models, distinct((r) => String(r.model)) as string[]);
  checkNames('--attacks', filter.attacks, distinct((r) => String(r.attack)) as string[]);
  if (filter.steps !== undefined && !groups.some((r) => Number(r.steps) === filter.steps))
    throw new BadInputError(`--steps: no ${filter.steps}-step runs in this sweep (have: ${distinct((r) => Number(r.steps)).join(', ')})`);

  const kept = groups.filter(
    (r) =>
      (!filter.models?.length || filter.models.includes(String(r.model))) &&
      (!filter.attacks?.length || filter.attacks.includes(String(r.attack))) &&
      (filter.steps === undefined || Number(r.steps) === filter.steps),
  );
  const series = new Map<string, CurveSeries>(
    kept.map((r) => [keyOf(r), { dataset: String(r.dataset), model: String(r.model), attack: String(r.attack), steps: Number(r.steps), n: Number(r.n), points: [] }]),
  );
  const { rows: points } = await store.reports.query(
    `select dataset, model, attack, steps, k, asr from robustness_curve where sweep_id = ${sqlText(sweepId)}` +
      (filter.steps !== undefined ? ` and steps = ${sqlInt(filter.steps)}` : '') +
      ` order by dataset, model, attack, steps, k`,
  );
  for (const p of points) series.get(keyOf(p))?.points.push({ k: Number(p.k), asr: Number(p.asr) });
  return [...series.values()];
}
