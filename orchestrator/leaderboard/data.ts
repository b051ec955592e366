/**
 * What the leaderboard site reads, all by SQL: the nights of a leaderboard (leaderboard_nights: the
 * sweeps whose spec names it, in created_at order), each night's groups with the AttackBench columns
 * (leaderboard_entries), and ASR at the chosen budgets k counted from sample_l0.
 */
import { BadInputError } from '../../schema/errors.ts';
import type { Store } from '../db/store.ts';
import { sqlInt, sqlText } from '../curves/sql-literal.ts';

export interface Night {
  /** 1 = the leaderboard's first night */
  index: number;
  /** the night's label (the spec's leaderboard.night, by default its UTC date) */
  night: string;
  sweepId: string;
  createdAt: string;
}

export interface Entry {
  nightIndex: number;
  dataset: string;
  model: string;
  /** label as written in the spec */
  attack: string;
  /** registry name (differs from the label for presets and labelled runs) */
  attackName: string;
  /** options as the spec gave them (defaults omitted) */
  options: Record<string, unknown>;
  steps: number;
  n: number;
  /** ASR (%) at each chosen budget k */
  asrAt: Record<number, number>;
  asrInf: number;
  /** +Infinity when at least half the samples were not broken */
  medianL0: number;
  optimality: number | null;
  forwardsPerSample: number | null;
  backwardsPerSample: number | null;
  secondsPerSample: number | null;
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** The leaderboards this database has nights of. */
export async function leaderboardNames(store: Store): Promise<string[]> {
  const { rows } = await store.reports.query(`select distinct leaderboard from leaderboard_nights order by leaderboard`);
  return rows.map((r) => String(r.leaderboard));
}

/** The nights of leaderboard `name`, first to last; bad input when it has none. */
export async function readNights(store: Store, name: string): Promise<Night[]> {
  const { rows } = await store.reports.query(
    `select night_index, night, sweep_id, created_at::text as created_at from leaderboard_nights where leaderboard = ${sqlText(name)} order by night_index`,
  );
  if (!rows.length) {
    const have = await leaderboardNames(store);
    throw new BadInputError(`--name: no leaderboard '${name}' in this database (have: ${have.join(', ') || 'none; a sweep joins one with `leaderboard: <name>` in its spec'})`);
  }
  return rows.map((r) => ({ index: Number(r.night_index), night: String(r.night ?? ''), sweepId: String(r.sweep_id), createdAt: String(r.created_at) }));
}

/** Every night's entries of leaderboard `name`, with ASR at each budget in `ks`. */
export async function readEntries(store: Store, name: string, ks: readonly number[]): Promise<Entry[]> {
  const { rows } = await store.reports.query(
    `select night_index, dataset, model, attack, attack_name, attack_options, steps, n, asr_inf, median_l0, optimality,
            forwards_per_sample, backwards_per_sample, seconds_per_sample
     from leaderboard_entries where leaderboard = ${sqlText(name)} order by night_index, dataset, model, attack, steps`,
  );
  const key = (r: Record<string, unknown>) => JSON.stringify([Number(r.night_index), String(r.dataset), String(r.model), String(r.attack), Number(r.steps)]);
  const asr = new Map<string, Record<number, number>>();
  if (ks.length) {
    const cols = ks.map((k, i) => `(100.0 * count(*) filter (where s.l0_eff <= ${sqlInt(k)}) / count(*))::float8 as asr_${i}`).join(', ');
    const { rows: counted } = await store.reports.query(
      `select n.night_index, s.dataset, s.model, s.attack_label as attack, s.steps, ${cols}
       from sample_l0 s join leaderboard_nights n on n.sweep_id = s.sweep_id
       where n.leaderboard = ${sqlText(name)}
       group by n.night_index, s.dataset, s.model, s.attack_label, s.steps`,
    );
    for (const r of counted) asr.set(key(r), Object.fromEntries(ks.map((k, i) => [k, Number(r[`asr_${i}`])])));
  }
  return rows.map((r) => {
    const options = r.attack_options;
    return {
      nightIndex: Number(r.night_index),
      dataset: String(r.dataset),
      model: String(r.model),
      attack: String(r.attack),
      attackName: String(r.attack_name ?? r.attack),
      options: typeof options === 'string' ? (JSON.parse(options) as Record<string, unknown>) : ((options ?? {}) as Record<string, unknown>),
      steps: Number(r.steps),
      n: Number(r.n),
      asrAt: asr.get(key(r)) ?? {},
      asrInf: Number(r.asr_inf),
      medianL0: Number(r.median_l0),
      optimality: num(r.optimality),
      forwardsPerSample: num(r.forwards_per_sample),
      backwardsPerSample: num(r.backwards_per_sample),
      secondsPerSample: num(r.seconds_per_sample),
    };
  });
}
