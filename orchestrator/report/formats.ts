/**
 * A laid-out table (model.ts) printed as Markdown, LaTeX, CSV or JSON. User strings are escaped
 * for the format first (escape.ts), our markup (bold, the model rows) is added after.
 *
 *   markdown  GitHub-flavoured pipe table, columns padded; a model's header row holds its name in
 *             italics in the first column; best values `**bold**`.
 *   latex     a booktabs tabular ready to paste: `\toprule` / `\midrule` / `\bottomrule`, a model's
 *             header row as `\multicolumn{…}{l}{\emph{…}}` (no multirow package needed), best values
 *             `\textbf{…}`. The document needs `\usepackage{booktabs}` and nothing else.
 *   csv       RFC 4180 with LF line ends, one row per attack × model (× sweep, × step budget), no
 *             bold, plain numbers (ASR in %, seconds and queries per sample, memory in bytes with a
 *             memory_kind column); an ∞ median is `inf` (what pandas and R read as infinity); a
 *             missing figure is empty. (The flat layout prints its cells, as it always did.)
 *   json      an array of objects, one per line, keyed like the CSV, numbers as numbers; an ∞
 *             median is `null` with `median_l0_inf: true` beside it (false otherwise, so the shape
 *             never depends on the data); `best` lists the keys printed bold in the other formats.
 */
import { csvField, latexText, markdownText } from './escape.ts';
import type { Cell, RecordValue, TableModel } from './model.ts';

export const TABLE_FORMATS = ['markdown', 'csv', 'latex', 'json'] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];

/** Display width in code points (ℓ, ∞ count one). */
const width = (s: string) => [...s].length;

function markdown(t: TableModel): string {
  const cell = (c: Cell) => (c.bold ? `**${markdownText(c.text)}**` : markdownText(c.text));
  const empty = t.columns.map(() => '');
  const lines: string[][] = t.groups.flatMap((g) => [...(g.label === null ? [] : [[`*${markdownText(g.label)}*`, ...empty.slice(1)]]), ...g.rows.map((r) => r.map(cell))]);
  const header = t.columns.map((c) => c.header);
  const widths = header.map((h, i) => Math.max(width(h), ...lines.map((l) => width(l[i]))));
  const pad = (s: string, i: number) => {
    const fill = ' '.repeat(widths[i] - width(s));
    return t.columns[i].align === 'left' ? s + fill : fill + s;
  };
  const line = (cells: string[]) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => '-'.repeat(w + 1) + (t.columns[i].align === 'left' ? '-' : ':')).join('|')}|`;
  return [line(header), rule, ...lines.map(line)].join('\n') + '\n';
}

function latex(t: TableModel): string {
  const cell = (c: Cell) => (c.bold ? `\\textbf{${latexText(c.text)}}` : latexText(c.text));
  const body = t.groups.flatMap((g, i) => [
    ...(i > 0 && g.label !== null ? ['\\midrule'] : []),
    ...(g.label === null ? [] : [`\\multicolumn{${t.columns.length}}{l}{\\emph{${latexText(g.label)}}} \\\\`]),
    ...g.rows.map((r) => r.map(cell).join(' & ') + ' \\\\'),
  ]);
  return (
    [
      `\\begin{tabular}{${t.columns.map((c) => (c.align === 'left' ? 'l' : 'r')).join('')}}`,
      '\\toprule',
      t.columns.map((c) => c.latex).join(' & ') + ' \\\\',
      '\\midrule',
      ...body,
      '\\bottomrule',
      '\\end{tabular}',
    ].join('\n') + '\n'
  );
}

function csvValue(v: RecordValue): string {
  if (v === null) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? 'inf' : '-inf';
  if (Array.isArray(v)) return csvField(v.join(' '));
  return csvField(String(v));
}

function csv(t: TableModel): string {
  if (t.csvFromCells) {
    const rows = [t.columns.map((c) => c.header), ...t.groups.flatMap((g) => g.rows.map((r) => r.map((c) => c.text)))];
    return rows.map((r) => r.map(csvField).join(',')).join('\n') + '\n';
  }
  const keys = t.recordKeys.filter((k) => k !== 'best'); // bold is for people
  return [keys.join(','), ...t.records.map((r) => keys.map((k) => csvValue(r[k])).join(','))].join('\n') + '\n';
}

function json(t: TableModel): string {
  const objects = t.records.map((r) => {
    const o: Record<string, RecordValue> = {};
    for (const k of t.recordKeys) {
      const v = r[k] ?? null;
      if (t.infiniteKeys.includes(k)) {
        const inf = typeof v === 'number' && !Number.isFinite(v);
        o[k] = inf ? null : v;
        o[`${k}_inf`] = inf;
      } else o[k] = typeof v === 'number' && !Number.isFinite(v) ? null : v;
    }
    return JSON.stringify(o);
  });
  return objects.length ? `[\n${objects.map((o) => `  ${o}`).join(',\n')}\n]\n` : '[]\n';
}

export function renderModel(t: TableModel, format: TableFormat): string {
  switch (format) {
    case 'markdown':
      return markdown(t);
    case 'latex':
      return latex(t);
    case 'csv':
      return csv(t);
    case 'json':
      return json(t);
  }
}
