/**
 * The paper table in every format with hostile user strings (attack labels and model names are the
 * user's): nothing a label holds can add a Markdown row or column, run HTML, or break the LaTeX; the
 * LaTeX header keeps its math (`$\ell_0$`, not `\ell\_0`).
 */
import { describe, expect, it } from 'vitest';
import { latexText, markdownText, renderTable } from '../orchestrator/report.ts';
import type { SummaryRow } from '../orchestrator/db/store.ts';

const HOSTILE = 'a|b$c\\d&e_f%g#h{i}~^<script>x</script>\n\\end{tabular}';

function row(attack: string, model = 'm'): SummaryRow {
  return {
    sweepId: 's',
    dataset: 'mnist',
    model,
    attack,
    steps: 100,
    n: 4,
    asr10: 25,
    asr24: 50,
    asr50: 75,
    asr100: 75,
    asr150: 75,
    asrInf: 75,
    medianL0: Infinity,
    secondsPerSample: 0.5,
    queriesPerSample: 200,
    peakBytesLogical: 2 * 2 ** 20,
    peakBytesDevice: null,
    backends: 'wasm',
    budget: null,
    budgetUnit: null,
    asrBudget: null,
  };
}

describe('paper table formats', () => {
  it('markdown: a hostile label stays inside its cell, as text', () => {
    const out = renderTable([row('plain'), row(HOSTILE, '<img src=x onerror=alert(1)>')], 'markdown', { layout: 'flat' });
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(4); // header, separator, two rows: the newline added no row
    for (const l of lines) expect(l.split(/(?<!\\)\|/).length - 2).toBe(11); // 11 columns, every pipe of a label escaped
    expect(out).not.toMatch(/<script>|<img/);
    expect(out).toContain('&lt;script&gt;x&lt;/script&gt;');
    expect(out).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(markdownText('a|b')).toBe('a\\|b');
    expect(markdownText('x\\|y')).toBe('x\\\\\\|y'); // a backslash before a pipe cannot un-escape it
    const cells = (l: string) => l.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    expect(cells(lines[3])).toEqual(['plain', 'm', '100', '4', '25.0', '75.0', '75.0', '∞', '0.500', '0.20', '2.0 MiB (logical)']);
    expect(cells(lines[2])[0]).toBe('a\\|b\\$c\\\\d&amp;e\\_f%g#h{i}\\~^&lt;script&gt;x&lt;/script&gt; \\\\end{tabular}'); // rows by model: '<img' sorts first
    expect(new Set(lines.map((l) => l.length)).size).toBe(1); // aligned
  });

  it('latex: booktabs, header math kept, every special character of a label escaped', () => {
    const out = renderTable([row(HOSTILE)], 'latex', { layout: 'flat' });
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe('\\begin{tabular}{llrrrrrrrrr}');
    expect(lines[2]).toBe('Attack & Model & Steps & $N$ & ASR$_{10}$ & ASR$_{50}$ & ASR$_{\\infty}$ & median $\\ell_0$ & $t$ (s/sample) & $q$ ($\\div$1000) & memory \\\\');
    expect(lines[4]).toBe(
      'a\\textbar{}b\\$c\\textbackslash{}d\\&e\\_f\\%g\\#h\\{i\\}\\textasciitilde{}\\textasciicircum{}\\textless{}script\\textgreater{}x\\textless{}/script\\textgreater{} \\textbackslash{}end\\{tabular\\} & m & 100 & 4 & 25.0 & 75.0 & 75.0 & $\\infty$ & 0.500 & 0.20 & 2.0 MiB (logical) \\\\',
    );
    expect(lines.at(-1)).toBe('\\end{tabular}');
    expect(lines.filter((l) => l.includes('\\end{tabular}'))).toHaveLength(1);
    expect(latexText('50%')).toBe('50\\%');
  });

  it('csv: RFC 4180 quoting keeps a hostile label in one field', () => {
    const out = renderTable([row(HOSTILE)], 'csv', { layout: 'flat' });
    expect(out.startsWith('Attack,Model,Steps,N,ASR_10,ASR_50,ASR_∞,median ℓ0,t (s/sample),q (÷1000),memory\n')).toBe(true);
    expect(out).toContain(`"${HOSTILE}",m,100,4,25.0,75.0,75.0,∞,0.500,0.20,2.0 MiB (logical)\n`);
  });
});
