/**
 * The leaderboard page: one self-contained index.html (inline style and script, nothing fetched but
 * the curve images next to it), readable without JavaScript: plain tables in rank order, changes
 * written out ("▼ regression", "▲ improvement") with an explanation in title/aria-label, not only a
 * colour. A small inline script adds sorting on a click of a column header. Every value from the
 * database goes through the `html` template tag, which escapes it, so a model named
 * `<img src=x onerror=alert(1)>` is text; a Content-Security-Policy that admits only this page's own
 * script and style (by hash) and same-folder images backs that up.
 */
import { createHash } from 'node:crypto';
import type { Board, Change, HistoryCell, Metric, Row, Section } from './board.ts';
import { metricTitle } from './board.ts';
import type { Entry } from './data.ts';

/** Markup that is already safe (built by `html`). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for an HTML text node or a quoted attribute value. */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]);

function part(v: unknown): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(part).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

/** Template tag: the literal parts are markup, every interpolated value is escaped (unless it is Html). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0];
  values.forEach((v, i) => (out += part(v) + strings[i + 1]));
  return new Html(out);
}

// ── numbers as the page shows them ────────────────────────────────────────────────────────────────

const fixed = (v: number | null | undefined, digits: number) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number.isFinite(v) ? v.toFixed(digits) : v > 0 ? '∞' : '−∞');
const median = (v: number) => (Number.isFinite(v) ? (Number.isInteger(v) ? String(v) : v.toFixed(1)) : '∞');

export function formatMetric(v: number | null, m: Metric): string {
  if (v === null) return '–';
  return m.kind === 'optimality' ? fixed(v, 3) : m.kind === 'median' ? median(v) : fixed(v, 1);
}

/** data-sort value of a number: what the sorting script compares ('' sorts last either way). */
const sortKey = (v: number | null | undefined) => (v === null || v === undefined || Number.isNaN(v) ? '' : Number.isFinite(v) ? String(v) : v > 0 ? 'Infinity' : '-Infinity');

// ── changes ───────────────────────────────────────────────────────────────────────────────────────

const MARK: Record<Change['kind'], string> = { regression: '▼ regression', improvement: '▲ improvement', same: '= unchanged', new: 'new' };

function delta(c: Change, m: Metric): string {
  if (c.from === null || c.to === null) return '';
  if (!Number.isFinite(c.from) || !Number.isFinite(c.to)) return ` (${formatMetric(c.from, m)} → ${formatMetric(c.to, m)})`;
  const d = c.to - c.from;
  const text = formatMetric(Math.abs(d), m);
  return ` (${d >= 0 ? '+' : '−'}${text})`;
}

/** The sentence behind a change marker (title and aria-label). */
export function changeSentence(c: Change, m: Metric, what = metricTitle(m)): string {
  if (c.kind === 'new' || !c.since) return c.since ? `new: not on the leaderboard on night ${c.since.night}` : 'first night of the leaderboard';
  const from = formatMetric(c.from, m);
  const to = formatMetric(c.to, m);
  if (c.kind === 'same') return `unchanged: ${what} ${to}, as on night ${c.since.night}`;
  return `${c.kind}: ${what} ${c.kind === 'regression' ? 'worsened' : 'improved'} from ${from} to ${to} since night ${c.since.night}`;
}

function changeMarker(c: Change, m: Metric): Html {
  const sentence = changeSentence(c, m);
  return html`<span class="change ${c.kind}" title="${sentence}" aria-label="${sentence}">${MARK[c.kind]}${c.kind === 'regression' || c.kind === 'improvement' ? delta(c, m) : ''}</span>`;
}

/** Order of change kinds when sorting the change column: regressions first. */
const CHANGE_ORDER: Record<Change['kind'], number> = { regression: 0, improvement: 1, new: 2, same: 3 };

// ── tables ────────────────────────────────────────────────────────────────────────────────────────

function options(e: Entry): string {
  const opts = Object.keys(e.options).length ? JSON.stringify(e.options) : '';
  const name = e.attackName !== e.attack ? e.attackName : '';
  return [name, opts].filter(Boolean).join(' ') || 'defaults';
}

function th(label: string, type: 'number' | 'text', extra?: { title?: string; ranked?: boolean }): Html {
  return html`<th scope="col" data-type="${type}"${extra?.ranked ? html` class="ranked"` : ''}${extra?.title ? html` title="${extra.title}"` : ''}>${label}</th>`;
}

const td = (text: string, sort: string | number | null, cls?: string) => html`<td data-sort="${sort === null ? '' : String(sort)}"${cls ? html` class="${cls}"` : ''}>${text}</td>`;

function rankingTable(s: Section, b: Board): Html {
  const m = b.metric;
  const ranked = (kind: Metric['kind'], k?: number) => m.kind === kind && (kind !== 'asr' || (m.kind === 'asr' && m.k === k));
  const head = [
    th('#', 'number', { title: `rank by ${metricTitle(m)}` }),
    th('attack', 'text'),
    th('options', 'text'),
    s.multipleSteps ? th('steps', 'number') : '',
    ...b.ks.map((k) => th(`ASR_${k} (%)`, 'number', { ranked: ranked('asr', k), title: `share of the N samples broken with at most ${k} perturbed features` })),
    th('ASR_∞ (%)', 'number', { title: 'share of the N samples broken at all' }),
    th('median ℓ0', 'number', { ranked: ranked('median'), title: 'median over all N samples, failures counted as ∞' }),
    th('optimality ξ', 'number', { ranked: ranked('optimality'), title: "AttackBench's optimality against the per-sample best of this night's attacks" }),
    th('forwards / sample', 'number'),
    th('backwards / sample', 'number'),
    th('t (s / sample)', 'number'),
    th('N', 'number'),
    th(`change of ${metricTitle(m)}`, 'number', { title: b.previous ? `since night ${b.previous.night}` : 'first night' }),
  ];
  const rows = s.rows.map((r: Row) => {
    const e = r.entry;
    const cls = r.change.kind === 'regression' ? 'regression' : r.change.kind === 'improvement' ? 'improvement' : '';
    return html`<tr${cls ? html` class="${cls}"` : ''}>${[
      td(String(r.rank), r.rank),
      html`<th scope="row" data-sort="${e.attack}">${e.attack}</th>`,
      td(options(e), options(e), 'options'),
      s.multipleSteps ? td(String(e.steps), e.steps) : '',
      ...b.ks.map((k) => td(fixed(e.asrAt[k], 1), sortKey(e.asrAt[k]))),
      td(fixed(e.asrInf, 1), sortKey(e.asrInf)),
      td(median(e.medianL0), sortKey(e.medianL0)),
      td(fixed(e.optimality, 3), sortKey(e.optimality)),
      td(fixed(e.forwardsPerSample, 1), sortKey(e.forwardsPerSample)),
      td(fixed(e.backwardsPerSample, 1), sortKey(e.backwardsPerSample)),
      td(fixed(e.secondsPerSample, 3), sortKey(e.secondsPerSample)),
      td(String(e.n), e.n),
      html`<td data-sort="${CHANGE_ORDER[r.change.kind]}">${changeMarker(r.change, m)}</td>`,
    ]}</tr>`;
  });
  return html`<table class="sortable ranking">
<caption>${s.model} on ${s.dataset}: attacks ranked by ${metricTitle(m)}, night ${b.latest.night}</caption>
<thead><tr>${head}</tr></thead>
<tbody>
${rows.map((r) => html`${r}\n`)}</tbody>
</table>`;
}

function historyCell(c: HistoryCell, m: Metric): Html {
  if (!c.entry) return html`<td data-sort="" class="absent">not run</td>`;
  const marker = c.change && (c.change.kind === 'regression' || c.change.kind === 'improvement') ? html` ${changeMarker(c.change, m)}` : '';
  return html`<td data-sort="${sortKey(c.value)}"${c.change?.kind === 'regression' || c.change?.kind === 'improvement' ? html` class="${c.change.kind}"` : ''}>${formatMetric(c.value, m)}${marker}</td>`;
}

function historyTable(s: Section, b: Board): Html {
  const m = b.metric;
  const shown = b.shownNights;
  const head = [
    th('attack', 'text'),
    s.multipleSteps ? th('steps', 'number') : '',
    ...shown.map((n) => html`<th scope="col" data-type="number" title="${`sweep ${n.sweepId}, ${n.createdAt}`}">${n.night}</th>`),
  ];
  const rows = s.rows.map(
    (r) => html`<tr>${[html`<th scope="row" data-sort="${r.entry.attack}">${r.entry.attack}</th>`, s.multipleSteps ? td(String(r.entry.steps), r.entry.steps) : '', ...r.history.map((c) => historyCell(c, m))]}</tr>`,
  );
  const more = b.nights.length > shown.length ? ` (the last ${shown.length} of ${b.nights.length} nights)` : '';
  return html`<table class="sortable history">
<caption>${metricTitle(m)} of ${s.model} over the nights${more}; markers compare with the night before</caption>
<thead><tr>${head}</tr></thead>
<tbody>
${rows.map((r) => html`${r}\n`)}</tbody>
</table>`;
}

// ── page ──────────────────────────────────────────────────────────────────────────────────────────

const STYLE = `
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; margin: 1.5rem; color: #1b1b1b; max-width: 90rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2.5rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.75rem 0 1.25rem; font-size: 0.875rem; }
caption { text-align: left; font-weight: bold; padding: 0.25rem 0; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.5rem; text-align: right; }
th[scope="row"], td.options { text-align: left; } td.options { font-family: "DejaVu Sans Mono", monospace; font-size: 0.8rem; }
thead th { background: #f1f1f1; } thead th[data-type="text"] { text-align: left; } th.ranked { background: #dde8f5; }
th button { font: inherit; font-weight: bold; border: 0; background: none; padding: 0; cursor: pointer; text-align: inherit; }
th[aria-sort="ascending"] button::after { content: " ↑"; } th[aria-sort="descending"] button::after { content: " ↓"; }
.change { white-space: nowrap; } .change.regression { color: #a50f15; font-weight: bold; } .change.improvement { color: #006d2c; }
tr.regression { background: #fdecea; } td.regression { background: #fdecea; } td.improvement { background: #eaf6ec; }
td.absent { color: #777; }
figure { margin: 0.5rem 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
.meta { color: #444; } code { font-size: 0.85rem; }
`;

/** Progressive sorting: a button in each header cell; numbers by value, empty cells last, stable. */
const SCRIPT = `
(function () {
  function value(cell) { return cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent; }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    heads.forEach(function (head, column) {
      var button = document.createElement('button');
      button.type = 'button';
      while (head.firstChild) button.appendChild(head.firstChild);
      head.appendChild(button);
      button.addEventListener('click', function () {
        var direction = head.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
        heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
        head.setAttribute('aria-sort', direction);
        var numeric = head.getAttribute('data-type') === 'number';
        var sign = direction === 'ascending' ? 1 : -1;
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = value(a.cells[column]), y = value(b.cells[column]);
          if (x === '' || y === '') return x === y ? 0 : x === '' ? 1 : -1;
          if (numeric) { var p = Number(x), q = Number(y); return p === q ? 0 : (p < q ? -1 : 1) * sign; }
          return x.localeCompare(y) * sign;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
`;

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

/** The Content-Security-Policy of the page: nothing but its own script and style, images from its folder. */
export const CSP = `default-src 'none'; img-src 'self' data:; style-src ${sha256(STYLE)}; script-src ${sha256(SCRIPT)}; base-uri 'none'; form-action 'none'`;

export interface CurveImage {
  dataset: string;
  model: string;
  /** file name next to index.html */
  file: string;
  width: number;
  height: number;
}

/** Anchor of the i-th model's section (positional: model names may hold anything). */
const sectionId = (i: number) => `model-${i + 1}`;

/** The whole index.html of a board. */
export function renderPage(b: Board, curves: readonly CurveImage[], generatedAt: string): string {
  const m = b.metric;
  const nav = b.sections.map((s, i) => html`<li><a href="#${sectionId(i)}">${s.model}</a> <span class="meta">(${s.dataset})</span></li>`);
  const sections = b.sections.map((s, i) => {
    const img = curves.find((c) => c.dataset === s.dataset && c.model === s.model);
    const figure = img
      ? html`<figure><img src="${img.file}" width="${img.width}" height="${img.height}" alt="${`Robustness curves of ${s.model} on ${s.dataset}, night ${b.latest.night}: ASR (%) against the ℓ0 budget k, one line per attack`}"><figcaption class="meta">Robustness curves, night ${b.latest.night} (<a href="${img.file}">SVG</a>)</figcaption></figure>`
      : '';
    return html`<section id="${sectionId(i)}">
<h2>${s.model} <span class="meta">on ${s.dataset}</span></h2>
${rankingTable(s, b)}
${figure}
${historyTable(s, b)}
</section>`;
  });
  const nights = b.nights.map((n) => html`<tr><td>${n.index}</td><th scope="row">${n.night}</th><td class="options">${n.sweepId}</td><td>${n.createdAt}</td></tr>`);
  const compared = b.previous ? html`compared with night <strong>${b.previous.night}</strong>` : html`the first night: nothing to compare with yet`;
  const page = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${b.name}: sigma-sweep leaderboard, night ${b.latest.night}</title>
<link rel="icon" href="data:,">
<style>${new Html(STYLE)}</style>
</head>
<body>
<header>
<h1>Leaderboard ${b.name}</h1>
<p class="meta">Night <strong>${b.latest.night}</strong> (the latest of ${b.nights.length} ${b.nights.length === 1 ? 'night' : 'nights'}; sweep <code>${b.latest.sweepId}</code>), ${compared}. Attacks ranked by <strong>${metricTitle(m)}</strong>. Changes: <span class="change regression">▼ regression</span> (worse than the night before), <span class="change improvement">▲ improvement</span>, = unchanged, new (not run the night before). Click a column header to sort.</p>
<nav><ul>${nav}</ul></nav>
</header>
<main>
${sections}
<section id="nights">
<h2>Nights</h2>
<table class="sortable nights">
<thead><tr>${th('#', 'number')}${th('night', 'text')}${th('sweep', 'text')}${th('created', 'text')}</tr></thead>
<tbody>
${nights.map((r) => html`${r}\n`)}</tbody>
</table>
</section>
</main>
<footer class="meta"><p>Generated by <code>sigma-sweep leaderboard</code> at ${generatedAt}. Every number comes from the database's views (<code>leaderboard_entries</code>, <code>robustness_curve</code>, <code>sample_l0</code>).</p></footer>
<script>${new Html(SCRIPT)}</script>
</body>
</html>
`;
  return page.text;
}
