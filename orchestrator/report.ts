/** Paper-style tables (σ-zero paper layout) from attack_summary rows. */
import type { SummaryRow } from './db/store.ts';

export type TableFormat = 'markdown' | 'csv' | 'latex';

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

export function renderTable(rows: SummaryRow[], format: TableFormat = 'markdown'): string {
  const cells = tableCells(rows);
  const header = tableHeader(rows);
  if (format === 'csv') {
    const esc = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    return [header, ...cells].map((r) => r.map(esc).join(',')).join('\n') + '\n';
  }
  if (format === 'latex') {
    const tex = (s: string) => s.replace(/ℓ0/g, '$\\ell_0$').replace(/∞/g, '$\\infty$').replace(/_/g, '\\_').replace(/%/g, '\\%').replace(/÷/g, '/');
    const lines = [
      `\\begin{tabular}{ll${'r'.repeat(header.length - 2)}}`,
      '\\toprule',
      header.map(tex).join(' & ') + ' \\\\',
      '\\midrule',
      ...cells.map((r) => r.map(tex).join(' & ') + ' \\\\'),
      '\\bottomrule',
      '\\end{tabular}',
    ];
    return lines.join('\n') + '\n';
  }
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i < 2 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), sep, ...cells.map(line)].join('\n') + '\n';
}
