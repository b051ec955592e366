/**
 * A table between its layout and its format: the layouts (layouts.ts) decide columns, groups,
 * cells and which cells are best; the formats (formats.ts) only escape and print. Cells hold plain
 * text (a label exactly as the user wrote it, numbers as shown); the machine records hold the same
 * rows as plain numbers for CSV and JSON.
 */

export interface Column {
  /** header as Markdown/CSV text (ours, never a user string) */
  header: string;
  /** header as LaTeX source: math only where it belongs (`median $\ell_0$`) */
  latex: string;
  align: 'left' | 'right';
}

export interface Cell {
  /** the text shown, unescaped (a user's label as written, '∞', '–' for a missing figure) */
  text: string;
  /** the best value of its comparison group (bold) */
  bold?: boolean;
}

export interface Group {
  /** the group's header row (a model name); null: no header row */
  label: string | null;
  rows: Cell[][];
}

export type RecordValue = string | number | boolean | null | string[];

export interface TableModel {
  columns: Column[];
  groups: Group[];
  /** one record per data row, keyed by `recordKeys`, numbers as numbers (±Infinity allowed) */
  records: Record<string, RecordValue>[];
  recordKeys: string[];
  /** record keys whose value may be ∞: JSON writes null and a `<key>_inf` flag beside it */
  infiniteKeys: string[];
  /** CSV prints the shown cells instead of the records (the flat layout, as it always printed) */
  csvFromCells?: boolean;
}
