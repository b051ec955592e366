/**
 * The paper-style tables of a sweep: `sigma-sweep table`, and what `run` and `submit --wait` print
 * when a sweep is done, all through `renderTable`. Layouts (report/layouts.ts: paper, fixed-budget,
 * flat) decide rows, columns and the bold best values; formats (report/formats.ts: markdown, csv,
 * latex, json) escape every user string (report/escape.ts) and print. The figures come from the
 * views over the per-sample rows (report/queries.ts).
 *
 * LaTeX packages: booktabs only (`\usepackage{booktabs}`); model rows are `\multicolumn` rows, so
 * multirow is not needed. Greek letters, ℓ and ∞ in labels become math, so pdflatex takes the
 * table without a Unicode set-up.
 */
import { renderModel, type TableFormat } from './report/formats.ts';
import { DEFAULT_KS, layoutTable, selectRows, type LayoutOptions, type Selection, type TableLayout, type TableRow } from './report/layouts.ts';
import { loadTableRows, sweepLabels } from './report/queries.ts';
import type { Store } from './db/store.ts';

export { TABLE_FORMATS, type TableFormat } from './report/formats.ts';
export { TABLE_LAYOUTS, DEFAULT_KS, STANDARD_KS, selectRows, type TableLayout, type TableRow, type LayoutOptions, type Selection } from './report/layouts.ts';
export { latexText, markdownText, csvField } from './report/escape.ts';
export { loadTableRows, asrAtKSql, sweepLabels } from './report/queries.ts';

/** What `table`, `run` and `submit --wait` print unless told otherwise: the paper's Tables I–III. */
export const DEFAULT_LAYOUT: TableLayout = 'paper';

export interface RenderOptions extends LayoutOptions {
  layout?: TableLayout;
  /** which rows, in which order (default: all, by dataset, model, steps, attack) */
  selection?: Selection;
}

/** The table of these rows in a layout and format. */
export function renderTable(rows: TableRow[], format: TableFormat = 'markdown', options: RenderOptions = {}): string {
  const { layout = DEFAULT_LAYOUT, selection, ...opts } = options;
  return renderModel(layoutTable(layout, selectRows(rows, selection), opts), format);
}

/** The line `table` prints above a Markdown or LaTeX table (a LaTeX comment there, so all of it pastes). */
export function tableHeading(sweepIds: readonly string[], format: TableFormat): string {
  const what = `sweep${sweepIds.length > 1 ? 's' : ''} ${sweepIds.join(', ')}`;
  if (format === 'markdown') return `${what}\n\n`;
  if (format === 'latex') return `% ${what}\n`;
  return ''; // csv and json: stdout is the data alone (every record names its sweep)
}

/**
 * The table of stored sweeps as `run` and `submit --wait` print it when a sweep is done (and
 * `table` without flags): rows loaded by SQL, sweeps called by name.
 */
export async function sweepTable(store: Store, sweepIds: readonly string[], format: TableFormat = 'markdown', options: RenderOptions = {}): Promise<string> {
  const layout = options.layout ?? DEFAULT_LAYOUT;
  const ks = layout === 'paper' ? (options.ks ?? DEFAULT_KS) : [];
  const rows = await loadTableRows(store, sweepIds, ks);
  return renderTable(rows, format, { sweepLabels: await sweepLabels(store, sweepIds), sweepColumn: sweepIds.length > 1, ...options, selection: { sweeps: [...sweepIds], ...options.selection } });
}
