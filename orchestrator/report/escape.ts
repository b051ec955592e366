/**
 * User strings (attack labels, model names, sweep names) as text of each table format. Labels come
 * from the sweep spec and may hold anything; none of it may add a row or column, run HTML, start
 * math or a command, or end the tabular. Markup of our own (bold, group rows) is added after these.
 */

/** Symbols a label may plausibly hold (σ-zero, ℓ0, ε) that pdflatex cannot typeset from raw UTF-8. */
const LATEX_SYMBOLS: Record<string, string> = {
  '∞': '$\\infty$',
  ℓ: '$\\ell$',
  '–': '--',
  '—': '---',
  '×': '$\\times$',
  '·': '$\\cdot$',
  '≤': '$\\leq$',
  '≥': '$\\geq$',
  '÷': '$\\div$',
  α: '$\\alpha$',
  β: '$\\beta$',
  γ: '$\\gamma$',
  δ: '$\\delta$',
  ε: '$\\varepsilon$',
  η: '$\\eta$',
  θ: '$\\theta$',
  κ: '$\\kappa$',
  λ: '$\\lambda$',
  μ: '$\\mu$',
  π: '$\\pi$',
  ρ: '$\\rho$',
  σ: '$\\sigma$',
  τ: '$\\tau$',
  φ: '$\\phi$',
  ω: '$\\omega$',
  Δ: '$\\Delta$',
  Σ: '$\\Sigma$',
};

/**
 * LaTeX's specials; the ASCII characters that OT1 fonts print as something else (`<` as ¡, `|` as
 * —, a backtick as a quote); and `[`, `]`, `*` braced, because a row's first cell follows `\\`,
 * which would take `[…]` as its spacing argument and `*` as its star.
 */
const LATEX_ASCII: Record<string, string> = {
  '\\': '\\textbackslash{}',
  '~': '\\textasciitilde{}',
  '^': '\\textasciicircum{}',
  '<': '\\textless{}',
  '>': '\\textgreater{}',
  '|': '\\textbar{}',
  '"': "''",
  '`': '\\textasciigrave{}',
  '[': '{[}',
  ']': '{]}',
  '*': '{*}',
};

/** A user string as LaTeX text: every special character escaped, newlines as spaces. */
export function latexText(s: string): string {
  return s
    .replace(/\r\n|[\r\n]/g, ' ')
    .replace(/[\\{}$&#^_%~<>|"`[\]*]/g, (c) => LATEX_ASCII[c] ?? `\\${c}`)
    .replace(/[∞ℓ–—×·≤≥÷αβγδεηθκλμπρστφωΔΣ]/g, (c) => LATEX_SYMBOLS[c]);
}

/**
 * A user string as the text of one Markdown table cell: newlines as spaces, `&`, `<`, `>` as
 * entities (no HTML, no autolinks), and a backslash before every character that would start
 * markup in GitHub-flavoured Markdown (the pipe of a column, emphasis, code, links, strikethrough,
 * math) and before the backslash itself, so that an escape in the label cannot un-escape ours.
 */
export function markdownText(s: string): string {
  return s
    .replace(/\r\n|[\r\n]/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\|*_`[\]~$]/g, (c) => `\\${c}`);
}

/** One RFC 4180 field: quoted (with `"` doubled) when it holds a comma, quote, CR or LF. */
export function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
