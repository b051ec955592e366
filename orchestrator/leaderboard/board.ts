/**
 * The leaderboard as data (pure; html.ts renders it): per dataset × model of the latest night, its
 * attacks ranked by the chosen metric, each with its history over the last nights and the change of
 * the metric since the previous night.
 *
 * Metrics: ASR at a budget k (`asr<k>`, higher is better), median ℓ0 (`median`, lower is better, ∞
 * when at least half the samples resisted) and AttackBench's optimality ξ (`optimality`, higher is
 * better; missing when the ensemble broke nothing). Changes compare the values as displayed (ASR and
 * median to 0.1, ξ to 0.001), so a change the page cannot show is never called a regression.
 */
import { BadInputError } from '../../schema/errors.ts';
import type { Entry, Night } from './data.ts';

export type Metric = { kind: 'asr'; k: number } | { kind: 'median' } | { kind: 'optimality' };

export const METRIC_FORMS = 'asr<k> (asr10, asr50, …), median, optimality';

export function parseMetric(v: string): Metric {
  if (v === 'median') return { kind: 'median' };
  if (v === 'optimality') return { kind: 'optimality' };
  const m = /^asr(\d{1,7})$/.exec(v);
  if (m) return { kind: 'asr', k: Number(m[1]) };
  throw new BadInputError(`--metric: '${v}' is not one of ${METRIC_FORMS}`);
}

export function metricTitle(m: Metric): string {
  return m.kind === 'asr' ? `ASR_${m.k}` : m.kind === 'median' ? 'median ℓ0' : 'optimality ξ';
}

export function metricValue(e: Entry, m: Metric): number | null {
  if (m.kind === 'asr') return e.asrAt[m.k] ?? null;
  if (m.kind === 'median') return e.medianL0;
  return e.optimality;
}

/** The value as the page shows it (the precision changes are judged at). */
export function displayed(v: number, m: Metric): number {
  if (!Number.isFinite(v)) return v;
  const scale = m.kind === 'optimality' ? 1000 : 10;
  return Math.round(v * scale) / scale;
}

/** > 0 when `a` is better than `b` under `m`, < 0 when worse, 0 when the page shows them equal; missing values are worst. */
export function compareValues(a: number | null, b: number | null, m: Metric): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  const x = displayed(a, m);
  const y = displayed(b, m);
  if (x === y) return 0;
  return (m.kind === 'median' ? y > x : x > y) ? 1 : -1;
}

export type ChangeKind = 'regression' | 'improvement' | 'same' | 'new';

export interface Change {
  kind: ChangeKind;
  /** the value on the night before (null: missing that night, or no value) */
  from: number | null;
  to: number | null;
  /** the night compared with; absent on the first night */
  since?: Night;
}

export function changeOf(current: Entry, previous: Entry | undefined, since: Night | undefined, m: Metric): Change {
  const to = metricValue(current, m);
  if (!previous || !since) return { kind: 'new', from: null, to, ...(since ? { since } : {}) };
  const from = metricValue(previous, m);
  const c = compareValues(to, from, m);
  return { kind: c > 0 ? 'improvement' : c < 0 ? 'regression' : 'same', from, to, since };
}

export interface HistoryCell {
  night: Night;
  /** absent when the attack did not run that night */
  entry?: Entry;
  value: number | null;
  change?: Change;
}

export interface Row {
  /** competition ranking: 1 + the number of rows strictly better */
  rank: number;
  entry: Entry;
  value: number | null;
  change: Change;
  history: HistoryCell[];
}

export interface Section {
  dataset: string;
  model: string;
  rows: Row[];
  /** whether rows differ in step budget (the page then shows a steps column) */
  multipleSteps: boolean;
}

export interface Board {
  name: string;
  metric: Metric;
  /** ASR budgets shown as columns, ascending */
  ks: number[];
  nights: Night[];
  latest: Night;
  previous?: Night;
  /** the nights the history tables show (the last few), first to last */
  shownNights: Night[];
  sections: Section[];
}

/** How many nights the history tables show. */
export const HISTORY_NIGHTS = 10;

const groupKey = (e: Entry) => JSON.stringify([e.dataset, e.model, e.attack, e.steps]);

/** Rank and compare: `entries` of every night of the leaderboard (data.ts readEntries). */
export function buildBoard(name: string, nights: readonly Night[], entries: readonly Entry[], metric: Metric, ks: readonly number[], historyNights = HISTORY_NIGHTS): Board {
  if (!nights.length) throw new Error('buildBoard: no nights');
  const ordered = [...nights].sort((a, b) => a.index - b.index);
  const latest = ordered[ordered.length - 1];
  const previous = ordered.length > 1 ? ordered[ordered.length - 2] : undefined;
  const shownNights = ordered.slice(-historyNights);
  const byNight = new Map<number, Map<string, Entry>>();
  for (const e of entries) {
    let m = byNight.get(e.nightIndex);
    if (!m) byNight.set(e.nightIndex, (m = new Map()));
    m.set(groupKey(e), e);
  }
  const position = new Map(ordered.map((n, i) => [n.index, i]));
  const nightBefore = (n: Night) => (position.get(n.index)! > 0 ? ordered[position.get(n.index)! - 1] : undefined);
  const entryAt = (n: Night | undefined, key: string) => (n ? byNight.get(n.index)?.get(key) : undefined);

  const sections = new Map<string, Section>();
  for (const e of byNight.get(latest.index)?.values() ?? []) {
    const sk = JSON.stringify([e.dataset, e.model]);
    let s = sections.get(sk);
    if (!s) sections.set(sk, (s = { dataset: e.dataset, model: e.model, rows: [], multipleSteps: false }));
    const key = groupKey(e);
    const history = shownNights.map((night): HistoryCell => {
      const at = entryAt(night, key);
      if (!at) return { night, value: null };
      const before = nightBefore(night);
      return { night, entry: at, value: metricValue(at, metric), change: changeOf(at, entryAt(before, key), before, metric) };
    });
    s.rows.push({ rank: 0, entry: e, value: metricValue(e, metric), change: changeOf(e, entryAt(previous, key), previous, metric), history });
  }
  for (const s of sections.values()) {
    s.multipleSteps = new Set(s.rows.map((r) => r.entry.steps)).size > 1;
    s.rows.sort(
      (a, b) =>
        -compareValues(a.value, b.value, metric) ||
        b.entry.asrInf - a.entry.asrInf ||
        a.entry.medianL0 - b.entry.medianL0 ||
        (a.entry.attack < b.entry.attack ? -1 : a.entry.attack > b.entry.attack ? 1 : 0) ||
        a.entry.steps - b.entry.steps,
    );
    for (const r of s.rows) r.rank = 1 + s.rows.filter((o) => compareValues(o.value, r.value, metric) > 0).length;
  }
  return { name, metric, ks: [...ks].sort((a, b) => a - b), nights: ordered, latest, ...(previous ? { previous } : {}), shownNights, sections: [...sections.values()] };
}
