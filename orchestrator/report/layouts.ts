/**
 * The table layouts, as pure functions of the summary rows (attack_summary, one row per sweep ×
 * dataset × model × attack × step budget):
 *
 *   paper         the σ-zero paper's Tables I–III: attacks grouped per model (a header row per
 *                 model), columns ASR_k for the chosen k (default 10, 50), ASR_∞, median ℓ0, t, q,
 *                 memory; the best value of each column per model and step budget in bold.
 *   fixed-budget  the paper's Tables VIII–XI: the rows of fixed-budget attacks (a k or epsilonBudget
 *                 option), grouped per model: k with its unit, ASR at k, t, q; best per model, step
 *                 budget and k.
 *   flat          one row per group with every column (the table sigma-sweep printed before the
 *                 paper layouts).
 *
 * Best values (bold): the largest ASR, the smallest median ℓ0, t, q and memory, compared as shown
 * (rounded to the digits printed, so what reads as a tie is bold on every tied row); an ∞ median or
 * a missing figure is never best (all ∞ → none bold); memory only when every compared row has the
 * same kind (device bytes and tfjs's logical bytes do not compare); and only where at least two
 * rows compete (a lone row is not "best").
 */
import type { SummaryRow } from '../db/store.ts';
import type { Cell, Column, Group, RecordValue, TableModel } from './model.ts';

export const TABLE_LAYOUTS = ['paper', 'fixed-budget', 'flat'] as const;
export type TableLayout = (typeof TABLE_LAYOUTS)[number];

/** The ASR_k columns attack_summary holds; other k come from ASR_AT_K_SQL (queries.ts). */
export const STANDARD_KS = [10, 24, 50, 100, 150] as const;
/** The paper layout's ASR_k columns when none are chosen (ASR_∞ is always shown). */
export const DEFAULT_KS: readonly number[] = [10, 50];

/** A summary row, with ASR at the k that attack_summary does not hold when a table asks for them. */
export interface TableRow extends SummaryRow {
  asrAt?: Readonly<Record<number, number>>;
}

export interface LayoutOptions {
  /** paper: the ASR_k columns (ASR_∞ follows them); fixed-budget: the budgets shown (all when absent) */
  ks?: readonly number[];
  /** sweep id → what the table calls it (its name); default the id */
  sweepLabels?: ReadonlyMap<string, string>;
  /** show the sweep column; default: when the rows come from more than one sweep */
  sweepColumn?: boolean;
}

/** Which rows and in which order: filters keep the order they are given in. */
export interface Selection {
  models?: readonly string[];
  attacks?: readonly string[];
  steps?: readonly number[];
  /** sweep ids in the order their rows appear for the same attack */
  sweeps?: readonly string[];
}

const MiB = 1024 * 1024;
const round = (v: number, digits: number) => Number(v.toFixed(digits));
const pct = (v: number) => v.toFixed(1);
const l0 = (v: number) => (Number.isFinite(v) ? (Number.isInteger(v) ? String(v) : v.toFixed(1)) : '∞');
const seconds = (v: number | null) => (v == null ? '–' : v.toFixed(3));
const kiloQueries = (v: number | null) => (v == null ? '–' : (v / 1000).toFixed(2));

function standardAsr(r: SummaryRow, k: number): number | undefined {
  return ({ 10: r.asr10, 24: r.asr24, 50: r.asr50, 100: r.asr100, 150: r.asr150 } as Record<number, number>)[k];
}

/** ASR_k of a row: attack_summary's column for the standard k, else what was loaded for it. */
export function asrAt(r: TableRow, k: number): number {
  const v = r.asrAt?.[k] ?? standardAsr(r, k);
  if (v === undefined) throw new Error(`ASR_${k} of ${r.attack} on ${r.model} was not loaded (loadTableRows loads every k a table asks for)`);
  return v;
}

export type MemoryKind = 'device' | 'logical';

/** The memory figure of a row with its kind, as group_summary defines it (device when a GPU backend reported it). */
export function memoryOf(r: SummaryRow): { bytes: number; kind: MemoryKind } | null {
  if (r.peakBytesDevice != null) return { bytes: r.peakBytesDevice, kind: 'device' };
  if (r.peakBytesLogical != null) return { bytes: r.peakBytesLogical, kind: 'logical' };
  return null;
}

const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);
/** Position in a chosen order; without one, 0 for all (the next key decides). */
const rank = (order: readonly (string | number)[] | undefined, v: string | number) => (order ? order.indexOf(v) : 0);

/**
 * Keep the rows the selection names and order them: model (as chosen, else by dataset and name),
 * dataset, step budget, attack (as chosen, else by label), sweep (as chosen).
 */
export function selectRows<R extends SummaryRow>(rows: readonly R[], sel: Selection = {}): R[] {
  const keep = rows.filter(
    (r) =>
      (!sel.models || sel.models.includes(r.model)) &&
      (!sel.attacks || sel.attacks.includes(r.attack)) &&
      (!sel.steps || sel.steps.includes(r.steps)) &&
      (!sel.sweeps || sel.sweeps.includes(r.sweepId)),
  );
  return keep.sort(
    (a, b) =>
      rank(sel.models, a.model) - rank(sel.models, b.model) ||
      cmp(a.dataset, b.dataset) ||
      cmp(a.model, b.model) ||
      a.steps - b.steps ||
      rank(sel.attacks, a.attack) - rank(sel.attacks, b.attack) ||
      cmp(a.attack, b.attack) ||
      rank(sel.sweeps, a.sweepId) - rank(sel.sweeps, b.sweepId) ||
      cmp(a.sweepId, b.sweepId),
  );
}

/** A column of a grouped layout: what it shows, and how its best value is chosen. */
interface Field {
  column: Column;
  show: (r: TableRow) => string;
  best?: {
    dir: 'max' | 'min';
    /** the value as shown (rounded); null: never best */
    value: (r: TableRow) => number | null;
    /** the record key named in a JSON record's `best` list */
    key: string;
    /** compare only when every row with a value has the same kind */
    kind?: (r: TableRow) => string | null;
  };
}

const col = (header: string, latex: string, align: Column['align'] = 'right'): Column => ({ header, latex, align });

/** Which cells are best: [row][field], per comparison group (`boldKey`) of at least two rows. */
function bestCells(rows: TableRow[], fields: Field[], boldKey: (r: TableRow) => string): boolean[][] {
  const bold = rows.map(() => fields.map(() => false));
  const groups = new Map<string, number[]>();
  rows.forEach((r, i) => groups.set(boldKey(r), [...(groups.get(boldKey(r)) ?? []), i]));
  for (const members of groups.values()) {
    if (members.length < 2) continue;
    fields.forEach((f, j) => {
      if (!f.best) return;
      const { dir, value, kind } = f.best;
      const scored = members.map((i) => ({ i, v: value(rows[i]) })).filter((s): s is { i: number; v: number } => s.v !== null && Number.isFinite(s.v));
      if (!scored.length) return;
      if (kind && new Set(scored.map((s) => kind(rows[s.i]))).size > 1) return;
      const best = dir === 'max' ? Math.max(...scored.map((s) => s.v)) : Math.min(...scored.map((s) => s.v));
      for (const s of scored) if (s.v === best) bold[s.i][j] = true;
    });
  }
  return bold;
}

/** Rows grouped per (dataset, model), groups and rows in the order the rows come. */
function byModel(rows: TableRow[]): TableRow[][] {
  const groups = new Map<string, TableRow[]>();
  for (const r of rows) {
    const key = JSON.stringify([r.dataset, r.model]);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()];
}

interface Grouped {
  fields: Field[];
  /** rows of one comparison for bold */
  boldKey: (r: TableRow) => string;
  /** the machine record of a row (plain numbers) */
  record: (r: TableRow) => Record<string, RecordValue>;
  recordKeys: string[];
  infiniteKeys: string[];
  /** order inside a model group (stable: ties keep the selection's order) */
  within?: (a: TableRow, b: TableRow) => number;
}

function groupedTable(rows: TableRow[], g: Grouped): TableModel {
  const multiData = new Set(rows.map((r) => r.dataset)).size > 1;
  const groups = byModel(rows).map((rs) => (g.within ? [...rs].sort(g.within) : rs));
  const ordered = groups.flat();
  const bold = bestCells(ordered, g.fields, g.boldKey);
  let at = 0;
  const shown: Group[] = groups.map((rs) => ({
    label: multiData ? `${rs[0].model} (${rs[0].dataset})` : rs[0].model,
    rows: rs.map(() => {
      const i = at++;
      return g.fields.map((f, j): Cell => ({ text: f.show(ordered[i]), ...(bold[i][j] ? { bold: true } : {}) }));
    }),
  }));
  const records = ordered.map((r, i) => ({
    ...g.record(r),
    best: g.fields.flatMap((f, j) => (bold[i][j] && f.best ? [f.best.key] : [])),
  }));
  return { columns: g.fields.map((f) => f.column), groups: shown, records, recordKeys: [...g.recordKeys, 'best'], infiniteKeys: g.infiniteKeys };
}

function sweepField(opts: LayoutOptions, rows: TableRow[]): Field[] {
  const show = opts.sweepColumn ?? new Set(rows.map((r) => r.sweepId)).size > 1;
  return show ? [{ column: col('Sweep', 'Sweep', 'left'), show: (r) => opts.sweepLabels?.get(r.sweepId) ?? r.sweepId }] : [];
}

const stepsField = (rows: TableRow[]): Field[] => (new Set(rows.map((r) => r.steps)).size > 1 ? [{ column: col('Steps', 'Steps'), show: (r) => String(r.steps) }] : []);

/** What every machine record starts with: which group of which sweep. */
function identity(r: TableRow, opts: LayoutOptions): Record<string, RecordValue> {
  return { sweep: opts.sweepLabels?.get(r.sweepId) ?? r.sweepId, sweep_id: r.sweepId, dataset: r.dataset, model: r.model, attack: r.attack, steps: r.steps, n: r.n };
}
const IDENTITY_KEYS = ['sweep', 'sweep_id', 'dataset', 'model', 'attack', 'steps', 'n'];

/** Tables I–III of the σ-zero paper. */
export function paperTable(rows: TableRow[], opts: LayoutOptions = {}): TableModel {
  const ks = opts.ks ?? DEFAULT_KS;
  const kinds = new Set(rows.map((r) => memoryOf(r)?.kind).filter((k) => k !== undefined));
  // one kind in the whole table: it goes in the header, and the cells are bare numbers
  const oneKind = kinds.size === 1 ? [...kinds][0] : null;
  const memHeader = oneKind ? `memory (MiB, ${oneKind})` : 'memory (MiB)';
  const fields: Field[] = [
    ...stepsField(rows),
    { column: col('Attack', 'Attack', 'left'), show: (r) => r.attack },
    ...sweepField(opts, rows),
    ...ks.map(
      (k): Field => ({
        column: col(`ASR_${k}`, `ASR$_{${k}}$`),
        show: (r) => pct(asrAt(r, k)),
        best: { dir: 'max', value: (r) => round(asrAt(r, k), 1), key: `asr_${k}` },
      }),
    ),
    { column: col('ASR_∞', 'ASR$_{\\infty}$'), show: (r) => pct(r.asrInf), best: { dir: 'max', value: (r) => round(r.asrInf, 1), key: 'asr_inf' } },
    {
      column: col('median ℓ0', 'median $\\ell_0$'),
      show: (r) => l0(r.medianL0),
      best: { dir: 'min', value: (r) => (Number.isFinite(r.medianL0) ? round(r.medianL0, 1) : null), key: 'median_l0' },
    },
    {
      column: col('t (s/sample)', '$t$ (s/sample)'),
      show: (r) => seconds(r.secondsPerSample),
      best: { dir: 'min', value: (r) => (r.secondsPerSample == null ? null : round(r.secondsPerSample, 3)), key: 'seconds_per_sample' },
    },
    {
      column: col('q (÷1000)', '$q$ ($\\div$1000)'),
      show: (r) => kiloQueries(r.queriesPerSample),
      best: { dir: 'min', value: (r) => (r.queriesPerSample == null ? null : round(r.queriesPerSample / 1000, 2)), key: 'queries_per_sample' },
    },
    {
      column: col(memHeader, memHeader),
      show: (r) => {
        const m = memoryOf(r);
        return m ? `${(m.bytes / MiB).toFixed(1)}${oneKind ? '' : ` (${m.kind})`}` : '–';
      },
      best: {
        dir: 'min',
        value: (r) => {
          const m = memoryOf(r);
          return m ? round(m.bytes / MiB, 1) : null;
        },
        key: 'memory_bytes',
        kind: (r) => memoryOf(r)?.kind ?? null,
      },
    },
  ];
  return groupedTable(rows, {
    fields,
    boldKey: (r) => JSON.stringify([r.dataset, r.model, r.steps]),
    record: (r) => {
      const m = memoryOf(r);
      return {
        ...identity(r, opts),
        ...Object.fromEntries(ks.map((k) => [`asr_${k}`, asrAt(r, k)])),
        asr_inf: r.asrInf,
        median_l0: r.medianL0,
        seconds_per_sample: r.secondsPerSample,
        queries_per_sample: r.queriesPerSample,
        memory_bytes: m?.bytes ?? null,
        memory_kind: m?.kind ?? null,
      };
    },
    recordKeys: [...IDENTITY_KEYS, ...ks.map((k) => `asr_${k}`), 'asr_inf', 'median_l0', 'seconds_per_sample', 'queries_per_sample', 'memory_bytes', 'memory_kind'],
    infiniteKeys: ['median_l0'],
  });
}

const budgetText = (r: SummaryRow) => (r.budget == null ? '–' : r.budgetUnit ? `${r.budget} ${r.budgetUnit}${r.budget === 1 ? '' : 's'}` : String(r.budget));

/** Tables VIII–XI of the σ-zero paper: fixed-budget attacks at their budget. Rows without a budget are left out. */
export function fixedBudgetTable(rows: TableRow[], opts: LayoutOptions = {}): TableModel {
  const budgeted = rows.filter((r) => r.budget != null && r.asrBudget != null && (!opts.ks || opts.ks.includes(r.budget)));
  const fields: Field[] = [
    ...stepsField(budgeted),
    { column: col('Attack', 'Attack', 'left'), show: (r) => r.attack },
    ...sweepField(opts, budgeted),
    { column: col('k', '$k$'), show: budgetText },
    { column: col('ASR_k', 'ASR$_k$'), show: (r) => pct(r.asrBudget!), best: { dir: 'max', value: (r) => round(r.asrBudget!, 1), key: 'asr_budget' } },
    {
      column: col('t (s/sample)', '$t$ (s/sample)'),
      show: (r) => seconds(r.secondsPerSample),
      best: { dir: 'min', value: (r) => (r.secondsPerSample == null ? null : round(r.secondsPerSample, 3)), key: 'seconds_per_sample' },
    },
    {
      column: col('q (÷1000)', '$q$ ($\\div$1000)'),
      show: (r) => kiloQueries(r.queriesPerSample),
      best: { dir: 'min', value: (r) => (r.queriesPerSample == null ? null : round(r.queriesPerSample / 1000, 2)), key: 'queries_per_sample' },
    },
  ];
  return groupedTable(budgeted, {
    fields,
    // ASR at 24 pixels and at 24 features, or at 24 and at 50, are different questions
    boldKey: (r) => JSON.stringify([r.dataset, r.model, r.steps, r.budget, r.budgetUnit]),
    within: (a, b) => a.steps - b.steps || cmp(a.budgetUnit ?? '', b.budgetUnit ?? '') || a.budget! - b.budget!,
    record: (r) => ({
      ...identity(r, opts),
      budget: r.budget,
      budget_unit: r.budgetUnit,
      asr_budget: r.asrBudget,
      seconds_per_sample: r.secondsPerSample,
      queries_per_sample: r.queriesPerSample,
    }),
    recordKeys: [...IDENTITY_KEYS, 'budget', 'budget_unit', 'asr_budget', 'seconds_per_sample', 'queries_per_sample'],
    infiniteKeys: [],
  });
}

/** Header cells of the flat layout in LaTeX: math only where it belongs. */
const FLAT_LATEX: Record<string, string> = {
  N: '$N$',
  ASR_10: 'ASR$_{10}$',
  ASR_50: 'ASR$_{50}$',
  'ASR_∞': 'ASR$_{\\infty}$',
  'median ℓ0': 'median $\\ell_0$',
  't (s/sample)': '$t$ (s/sample)',
  'q (÷1000)': '$q$ ($\\div$1000)',
  k: '$k$',
  ASR_k: 'ASR$_k$',
};

/** The flat table: one row per group, every figure, no groups and no bold; CSV prints these cells. */
export function flatTable(rows: TableRow[], opts: LayoutOptions = {}): TableModel {
  const budgets = rows.some((r) => r.budget != null);
  const sweep = sweepField(opts, rows);
  const memory = (r: SummaryRow) => {
    const m = memoryOf(r);
    return m ? `${(m.bytes / MiB).toFixed(1)} MiB (${m.kind})` : '–';
  };
  const header = [...sweep.map((f) => f.column.header), 'Attack', 'Model', 'Steps', 'N', 'ASR_10', 'ASR_50', 'ASR_∞', 'median ℓ0', 't (s/sample)', 'q (÷1000)', 'memory', ...(budgets ? ['k', 'ASR_k'] : [])];
  const left = sweep.length + 2;
  const columns = header.map((h, i) => col(h, FLAT_LATEX[h] ?? h, i < left ? 'left' : 'right'));
  const cells = rows.map((r) =>
    [
      ...sweep.map((f) => f.show(r)),
      r.attack,
      r.model,
      String(r.steps),
      String(r.n),
      pct(r.asr10),
      pct(r.asr50),
      pct(r.asrInf),
      l0(r.medianL0),
      seconds(r.secondsPerSample),
      kiloQueries(r.queriesPerSample),
      memory(r),
      ...(budgets ? [r.budget == null ? '–' : String(r.budget), r.asrBudget == null ? '–' : pct(r.asrBudget)] : []),
    ].map((text): Cell => ({ text })),
  );
  const records = rows.map((r) => {
    const m = memoryOf(r);
    return {
      ...identity(r, opts),
      ...Object.fromEntries(STANDARD_KS.map((k) => [`asr_${k}`, standardAsr(r, k)!])),
      asr_inf: r.asrInf,
      median_l0: r.medianL0,
      seconds_per_sample: r.secondsPerSample,
      queries_per_sample: r.queriesPerSample,
      memory_bytes: m?.bytes ?? null,
      memory_kind: m?.kind ?? null,
      backends: r.backends,
      budget: r.budget,
      budget_unit: r.budgetUnit,
      asr_budget: r.asrBudget,
    };
  });
  return {
    columns,
    groups: [{ label: null, rows: cells }],
    records,
    recordKeys: [...IDENTITY_KEYS, ...STANDARD_KS.map((k) => `asr_${k}`), 'asr_inf', 'median_l0', 'seconds_per_sample', 'queries_per_sample', 'memory_bytes', 'memory_kind', 'backends', 'budget', 'budget_unit', 'asr_budget'],
    infiniteKeys: ['median_l0'],
    csvFromCells: true,
  };
}

export function layoutTable(layout: TableLayout, rows: TableRow[], opts: LayoutOptions = {}): TableModel {
  switch (layout) {
    case 'paper':
      return paperTable(rows, opts);
    case 'fixed-budget':
      return fixedBudgetTable(rows, opts);
    case 'flat':
      return flatTable(rows, opts);
  }
}
