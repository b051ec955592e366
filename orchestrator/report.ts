/** Paper-style tables (σ-zero paper layout) from attack_summary rows. */
import type { SummaryRow } from './db/store.ts';

export const TABLE_FORMATS = ['markdown', 'csv', 'latex'] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];

const MiB = 1024 * 1024;
const pct = (v: number) => v.toFixed(1);
const l0 = (v: number) => (Number.isFinite(v) ? (Number.isInteger(v) ? String(v) : v.toFixed(1)) : '∞');

function memory(r: SummaryRow): string {
  if (r.peakBytesDevice != null) return `${(r.peakBytesDevice / MiB).toFixed(1)} MiB (device)`;
  if (r.peakBytesLogical != null) return `${(r.peakBytesLogical / MiB).toFixed(1)} MiB (logical)`;
  return '–';
}

export const TABLE_HEADER = ['Attack', 'Model', 'Steps', 'N', 'ASR_10', 'ASR_50', 'ASR_∞', 'median ℓ0', 't (s/sample)', 'q (÷1000)', 'memory'];

/** Column headers, with the fixed-budget column (k, ASR_k) when any group has a budget. */
export function tableHeader(rows: SummaryRow[]): string[] {
  return rows.some((r) => r.budget != null) ? [...TABLE_HEADER, 'k', 'ASR_k'] : TABLE_HEADER;
}

export function tableCells(rows: SummaryRow[]): string[][] {
  const budgets = rows.some((r) => r.budget != null);
  return rows.map((r) => [
    r.attack,
    r.model,
    String(r.steps),
    String(r.n),
    pct(r.asr10),
    pct(r.asr50),
    pct(r.asrInf),
    l0(r.medianL0),
    r.secondsPerSample == null ? '–' : r.secondsPerSample.toFixed(3),
    r.queriesPerSample == null ? '–' : (r.queriesPerSample / 1000).toFixed(2),
    memory(r),
    ...(budgets ? [r.budget == null ? '–' : String(r.budget), r.asrBudget == null ? '–' : pct(r.asrBudget)] : []),
  ]);
}

/** Header cells in LaTeX: math only where it belongs (`\ell_0` inside $…$ is never escaped). */
const LATEX_HEADER: Record<string, string> = {
  Attack: 'Attack',
  Model: 'Model',
  Steps: 'Steps',
  N: '$N$',
  ASR_10: 'ASR$_{10}$',
  ASR_50: 'ASR$_{50}$',
  'ASR_∞': 'ASR$_{\\infty}$',
  'median ℓ0': 'median $\\ell_0$',
  't (s/sample)': '$t$ (s/sample)',
  'q (÷1000)': '$q$ ($\\div$1000)',
  memory: 'memory',
  k: '$k$',
  ASR_k: 'ASR$_k$',
};

/** A user string (attack label, model name) as LaTeX text: every special character escaped. */
export function latexText(s: string): string {
  return s
    .replace(/\r?\n/g, ' ')
    .replace(/[\\{}$&#^_%~]/g, (c) => ({ '\\': '\\textbackslash{}', '~': '\\textasciitilde{}', '^': '\\textasciicircum{}' })[c] ?? `\\${c}`)
    .replace(/∞/g, '$\\infty$');
}

/** A cell as Markdown table text: no pipe, newline or HTML can break out of it. */
export function markdownText(s: string): string {
  return s
    .replace(/\r?\n/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|');
}

export function renderTable(rows: SummaryRow[], format: TableFormat = 'markdown'): string {
  const header = tableHeader(rows);
  if (format === 'csv') {
    const esc = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    return [header, ...tableCells(rows)].map((r) => r.map(esc).join(',')).join('\n') + '\n';
  }
  if (format === 'latex') {
    const lines = [
      `\\begin{tabular}{ll${'r'.repeat(header.length - 2)}}`,
      '\\toprule',
      header.map((h) => LATEX_HEADER[h] ?? latexText(h)).join(' & ') + ' \\\\',
      '\\midrule',
      ...tableCells(rows).map((r) => r.map(latexText).join(' & ') + ' \\\\'),
      '\\bottomrule',
      '\\end{tabular}',
    ];
    return lines.join('\n') + '\n';
  }
  const cells = tableCells(rows).map((r) => r.map(markdownText));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i < 2 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), sep, ...cells.map(line)].join('\n') + '\n';
}
