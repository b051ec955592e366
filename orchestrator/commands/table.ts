/**
 * `sigma-sweep table`: print the tables of stored sweeps in the σ-zero paper's layouts (computed by
 * SQL from the per-sample rows; orchestrator/report.ts). Filters name models, attacks and step
 * budgets and keep the order they are given in; several sweeps print side by side.
 */
import { Option, type Command } from 'commander';
import { DEFAULT_KS, DEFAULT_LAYOUT, loadTableRows, renderTable, selectRows, sweepLabels, tableHeading, TABLE_LAYOUTS, type TableLayout, type TableRow } from '../report.ts';
import { parseFormat, tableFormatOption, READ_ONLY, resolveSweepId, storeOptions, UsageError, withStore, type CommandContext, type StoreFlags } from './options.ts';

type TableFlags = StoreFlags & { sweep?: string[]; layout: TableLayout; k?: number[]; steps?: number[]; models?: string[]; attacks?: string[]; format: string };

/** A repeatable flag whose values collect into one list (split later, when the names are known). */
const collect = (flag: string) => (v: string, prev: string[] | undefined) => {
  if (!v.trim()) throw new UsageError(`${flag}: empty value`);
  return [...(prev ?? []), v];
};

/** `--k 10,24,50`: whole numbers ≥ 0; `inf` (or ∞) is accepted and adds nothing (ASR_∞ is always shown). */
export function parseKs(v: string, prev: number[] = []): number[] {
  const ks = [...prev];
  for (const part of v.split(',').map((p) => p.trim())) {
    if (/^(inf|∞)$/i.test(part)) continue;
    const k = Number(part);
    if (!/^\d+$/.test(part) || !Number.isSafeInteger(k)) throw new UsageError(`--k: '${part}' is not a whole number ≥ 0 (or inf)`);
    if (!ks.includes(k)) ks.push(k);
  }
  return ks;
}

/** `--steps 100,1000`: whole numbers ≥ 1. */
export function parseSteps(v: string, prev: number[] = []): number[] {
  const steps = [...prev];
  for (const part of v.split(',').map((p) => p.trim())) {
    const n = Number(part);
    if (!/^\d+$/.test(part) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`--steps: '${part}' is not a whole number ≥ 1`);
    if (!steps.includes(n)) steps.push(n);
  }
  return steps;
}

/**
 * The names a --models / --attacks value means: the whole value when it is a name (labels may hold
 * commas), else its comma-separated parts; each must exist in the rows.
 */
export function resolveNames(flag: string, values: readonly string[], known: readonly string[]): string[] | undefined {
  if (!values.length) return undefined;
  const out: string[] = [];
  for (const v of values) {
    const names = known.includes(v) ? [v] : v.split(',').map((p) => p.trim()).filter(Boolean);
    for (const n of names) {
      if (!known.includes(n)) throw new UsageError(`${flag}: no '${n}' in the chosen sweep(s) (have: ${[...new Set(known)].join(', ') || 'none'})`);
      if (!out.includes(n)) out.push(n);
    }
  }
  return out;
}

const LAYOUT_HELP =
  'paper: the σ-zero paper\'s Tables I–III, attacks grouped per model, ASR_k (--k), ASR_∞, median ℓ0, t, q, memory, best per model in bold; ' +
  'fixed-budget: Tables VIII–XI, the fixed-budget attacks (a k or epsilonBudget option) with k and its unit, ASR at k, t, q; ' +
  'flat: one row per attack × model × steps with every figure, no groups or bold (the table of sigma-sweep before the paper layouts). ' +
  '`run` and `submit --wait` print the default layout';

export function tableCommand(program: Command, { out, log }: CommandContext): void {
  storeOptions(
    program
      .command('table')
      .description('Print the tables of stored sweeps in the σ-zero paper\'s layouts (computed by SQL from the per-sample rows).')
      .option('--sweep <id>', 'sweep id or name; repeat it or give a comma list for several sweeps side by side, one row per sweep (default: the latest sweep)', collect('--sweep'))
      .addOption(new Option('--layout <name>', LAYOUT_HELP).choices(TABLE_LAYOUTS).default(DEFAULT_LAYOUT))
      .option('--k <list>', `paper: the ASR_k columns, e.g. 10,24,50,100,150 (default ${DEFAULT_KS.join(',')}; ASR_∞ always follows); fixed-budget: only the rows with these budgets`, parseKs)
      .option('--steps <list>', 'only these step budgets, e.g. 100,1000 (default: all, with a Steps column when there are several)', parseSteps)
      .option('--models <list>', 'only these models, in this order (comma list or repeated; a name holding a comma matches when given whole)', collect('--models'))
      .option('--attacks <list>', 'only these attack labels, in this order (comma list or repeated; a label holding a comma matches when given whole)', collect('--attacks'))
      .addOption(tableFormatOption('markdown, latex (booktabs), csv (plain numbers, ∞ as inf) or json (numbers; an ∞ median is null with median_l0_inf true)')),
  ).action(async (flags: TableFlags) => {
    const format = parseFormat(flags.format);
    if (flags.layout === 'flat' && flags.k) throw new UsageError('--k: the flat layout has fixed columns; use --layout paper or fixed-budget');
    await withStore(
      flags,
      log(),
      async (store) => {
        const ids: string[] = [];
        for (const v of flags.sweep ? flags.sweep.flatMap((s) => s.split(',').map((p) => p.trim())) : [undefined]) {
          const id = await resolveSweepId(store, v);
          if (!ids.includes(id)) ids.push(id);
        }
        const ks = flags.layout === 'paper' ? (flags.k ?? DEFAULT_KS) : [];
        const rows = await loadTableRows(store, ids, ks);
        const selection = {
          sweeps: ids,
          models: resolveNames('--models', flags.models ?? [], rows.map((r) => r.model)),
          attacks: resolveNames('--attacks', flags.attacks ?? [], rows.map((r) => r.attack)),
          steps: flags.steps,
        };
        const have = [...new Set(rows.map((r) => r.steps))].sort((a, b) => a - b);
        for (const s of flags.steps ?? []) if (!have.includes(s)) throw new UsageError(`--steps: no step budget ${s} in the chosen sweep(s) (have: ${have.join(', ') || 'none'})`);
        if (flags.layout === 'fixed-budget') checkBudgets(selectRows(rows, selection), flags.k);

        out(tableHeading(ids, format));
        out(renderTable(rows, format, { layout: flags.layout, ks: flags.layout === 'paper' ? ks : flags.k, selection, sweepLabels: await sweepLabels(store, ids), sweepColumn: ids.length > 1 }));
      },
      READ_ONLY, // reading: never creates a database
    );
  });
}

/** The fixed-budget layout of sweeps without a fixed-budget run (or without the asked budgets) says so. */
function checkBudgets(rows: TableRow[], ks: number[] | undefined): void {
  const budgets = [...new Set(rows.flatMap((r) => (r.budget == null ? [] : [r.budget])))].sort((a, b) => a - b);
  if (!budgets.length) throw new UsageError('--layout fixed-budget: the chosen sweep(s) hold no fixed-budget runs (attacks with a k or epsilonBudget option)');
  const missing = ks?.filter((k) => !budgets.includes(k)) ?? [];
  if (missing.length) throw new UsageError(`--k: no fixed-budget runs at ${missing.join(', ')} (budgets: ${budgets.join(', ')})`);
}
