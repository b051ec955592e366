/**
 * `sigma-sweep table` in the σ-zero paper's layouts, from hand-made per-sample rows in a PGlite
 * store: snapshots per layout × format (test/fixtures/report/), the bold choices on hand-picked
 * values (ties, ∞ medians, memory kinds, budgets and units), the filters and k columns, several
 * sweeps side by side, hostile labels in every format, and the LaTeX compiled by pdflatex (skipped
 * with a reason when no TeX is installed: Debian's texlive-latex-base and texlive-latex-recommended).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../orchestrator/db/store.ts';
import { asrAtKSql, loadTableRows, renderTable, type RenderOptions, type TableFormat, type TableRow } from '../orchestrator/report.ts';
import type { Task, TaskResult } from '../schema/wire.ts';
import { cli } from './helpers/cli.ts';

const MiB = 2 ** 20;
const N1 = { id: 'night-1-aaaaaaaaaa', name: 'night-1' };
const N2 = { id: 'night-2-bbbbbbbbbb', name: 'night-2' };
const HOST = { id: 'hostile-cccccccccc', name: 'hostile' };
const HOSTILE_LABEL = 'a|b$c\\d&e_f%g#h{i}~^*x*[l](u)`c`<script>x</script>\n\\end{tabular}';
const HOSTILE_MODEL = '<img src=x onerror=alert(1)>|m, $\\&"q"\r\n\\end{tabular} & \\\\';

interface Run {
  sweep: string;
  model: string;
  label: string;
  attack?: string;
  options?: Record<string, unknown>;
  steps?: number;
  /** ℓ0 of samples 0…3, null for a failure */
  l0s: (number | null)[];
  /** seconds of each of the 2 batches (t = seconds / 2 per sample) */
  seconds: number;
  /** forwards + backwards of each batch (q = queries / 2 per sample) */
  queries: number;
  logical?: number;
  device?: number;
}

/*
 * Hand-picked values (ASR over 4 samples; median of the 2nd and 3rd smallest, ∞ for failures):
 *   night-1, m-a, 100 steps: sigma-zero [3,8,12,40] ASR_10 50, ASR_50 100, ∞ 100, median 10, t .5, q .2, 3 MiB
 *                            pdpgd      [3,8,12,45] 50, 100, 100, median 10 (ties sigma-zero on all four), t .25, q .1, 2 MiB
 *                            vfga       [2,∞,∞,∞]   25, 25, 25, median ∞, t .25 (ties pdpgd), q .1 (ties), 1 MiB (best)
 *   night-1, m-a, 1000 steps: sigma-zero alone in its step budget (nothing bold)
 *   night-1, m-b: sigma-zero [∞,∞,∞,5] ∞ median, vfga [∞,∞,∞,∞] ∞ median → no median bold; ASR 25 vs 0
 *   night-1, m-c, fixed budgets: σ0-budget (24 features) [3,8,12,30] ASR_k 75, t .5, q .2;
 *                                sparse-rs (24 features) [5,20,24,∞] ASR_k 75 (tie), t 1, q .25;
 *                                pgd-l0 (24 pixels) [1,2,30,∞] 50, alone in its unit; pgd-l0-k10 (10 pixels) [1,2,9,∞] 75, alone
 *   night-2, m-a: sigma-zero [3,9,15,∞] device memory 4 MiB; vfga [2,4,∞,∞]
 */
const RUNS: Run[] = [
  { sweep: N1.id, model: 'm-a', label: 'sigma-zero', l0s: [3, 8, 12, 40], seconds: 1, queries: 400, logical: 3 * MiB },
  { sweep: N1.id, model: 'm-a', label: 'pdpgd', l0s: [3, 8, 12, 45], seconds: 0.5, queries: 200, logical: 2 * MiB },
  { sweep: N1.id, model: 'm-a', label: 'vfga', l0s: [2, null, null, null], seconds: 0.5, queries: 200, logical: 1 * MiB },
  { sweep: N1.id, model: 'm-a', label: 'sigma-zero', steps: 1000, l0s: [2, 6, 9, 30], seconds: 5, queries: 4000, logical: 3 * MiB },
  { sweep: N1.id, model: 'm-b', label: 'sigma-zero', l0s: [null, null, null, 5], seconds: 1, queries: 400, logical: 3 * MiB },
  { sweep: N1.id, model: 'm-b', label: 'vfga', l0s: [null, null, null, null], seconds: 0.5, queries: 200, logical: 1 * MiB },
  { sweep: N1.id, model: 'm-c', label: 'σ0-budget', attack: 'sigma-zero', options: { epsilonBudget: 24 }, l0s: [3, 8, 12, 30], seconds: 1, queries: 400, logical: 3 * MiB },
  { sweep: N1.id, model: 'm-c', label: 'sparse-rs', options: { k: 24 }, l0s: [5, 20, 24, null], seconds: 2, queries: 500, logical: 1 * MiB },
  { sweep: N1.id, model: 'm-c', label: 'pgd-l0', options: { k: 24 }, l0s: [1, 2, 30, null], seconds: 1, queries: 400, logical: 2 * MiB },
  { sweep: N1.id, model: 'm-c', label: 'pgd-l0-k10', attack: 'pgd-l0', options: { k: 10 }, l0s: [1, 2, 9, null], seconds: 1, queries: 400, logical: 2 * MiB },
  { sweep: N2.id, model: 'm-a', label: 'sigma-zero', l0s: [3, 9, 15, null], seconds: 0.5, queries: 400, device: 4 * MiB },
  { sweep: N2.id, model: 'm-a', label: 'vfga', l0s: [2, 4, null, null], seconds: 0.5, queries: 200, logical: 1 * MiB },
  { sweep: HOST.id, model: HOSTILE_MODEL, label: HOSTILE_LABEL, attack: 'vfga', l0s: [2, 4, null, null], seconds: 0.5, queries: 200, logical: 1 * MiB },
  // a first cell that `\\` would take as its [spacing] argument and star
  { sweep: HOST.id, model: HOSTILE_MODEL, label: '[2em]*x', attack: 'vfga', l0s: [2, 4, 5, 6], seconds: 0.5, queries: 200, logical: 1 * MiB },
  { sweep: HOST.id, model: HOSTILE_MODEL, label: 'plain', attack: 'vfga', l0s: [2, 4, 5, null], seconds: 0.5, queries: 200, logical: 1 * MiB },
];

function task(r: Run): Task {
  const key = createHash('sha256').update(JSON.stringify([r.sweep, r.model, r.label, r.steps])).digest('hex').slice(0, 32);
  return {
    key,
    sweepId: r.sweep,
    dataset: { name: 'mnist', split: 'test' },
    sampleIndices: [0, 1, 2, 3],
    model: { name: r.model, sha256: 'a'.repeat(64) },
    attack: { label: r.label, name: r.attack ?? r.label, options: r.options ?? {} },
    steps: r.steps ?? 100,
    batchSize: 2,
    seed: 0,
  };
}

function result(t: Task, r: Run): TaskResult {
  return {
    taskKey: t.key,
    attempt: 1,
    agent: 'test',
    backend: r.device ? 'webgpu' : 'wasm',
    device: 'test',
    startedAt: new Date(0).toISOString(),
    finishedAt: new Date(1000).toISOString(),
    samples: r.l0s.map((l0, datasetIndex) => {
      const n = l0 ?? 0;
      return {
        datasetIndex,
        label: 1,
        cleanPred: 1,
        advPred: l0 === null ? 1 : 2,
        success: l0 !== null,
        l0: n,
        l1: n,
        l2: n,
        linf: n ? 1 : 0,
        pertIndices: Array.from({ length: n }, (_, j) => j),
        pertValues: Array.from({ length: n }, () => 1),
      };
    }),
    batches: [0, 1].map((batchIndex) => ({
      batchIndex,
      size: 2,
      seconds: r.seconds,
      forwards: r.queries / 2,
      backwards: r.queries / 2,
      peakBytesLogical: r.logical ?? MiB / 2, // always reported; device memory wins where there is some
      peakBytesDevice: r.device ?? null,
    })),
  };
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sigma-layouts-'));
const DB = ['--data-dir', dataDir];
let store: Store;
let closed = false;

beforeAll(async () => {
  store = await Store.open({ dataDir });
  for (const s of [N1, N2, HOST]) {
    await store.sweeps.upsert(s.id, s.name, {});
    const runs = RUNS.filter((r) => r.sweep === s.id);
    await store.tasks.upsert(runs.map(task));
    for (const r of runs) await store.results.record(result(task(r), r));
  }
});

afterAll(async () => {
  if (store && !closed) await store.close();
});

/** A table straight from the library (one open store for all of them). */
async function table(sweeps: string[], format: TableFormat, opts: RenderOptions = {}): Promise<string> {
  const rows = await loadTableRows(store, sweeps, opts.ks ?? []);
  return renderTable(rows, format, { sweepLabels: new Map([N1, N2, HOST].map((s) => [s.id, s.name])), ...opts, selection: { sweeps, ...opts.selection } });
}

/** Markdown lines → cells (split on unescaped pipes). */
const mdCells = (line: string) => line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
const mdRows = (md: string) => md.trimEnd().split('\n').map(mdCells);
/** The rows of one model's group: after its header row `*model*`, up to the next header row. */
function mdGroup(md: string, model: string): string[][] {
  const rows = mdRows(md);
  const from = rows.findIndex((r) => r[0] === `*${model}*`) + 1;
  expect(from, `a group row for ${model}`).toBeGreaterThan(0);
  const to = rows.findIndex((r, i) => i >= from && r[0].startsWith('*') && r.slice(1).every((c) => c === ''));
  return rows.slice(from, to < 0 ? undefined : to);
}
/** The one row (of a table, or of a group's rows) whose first cells are `lead`, e.g. mdRow(md, '100', 'pdpgd'). */
function mdRow(md: string | string[][], ...lead: string[]): string[] {
  const hit = (typeof md === 'string' ? mdRows(md) : md).filter((r) => lead.every((l, i) => r[i] === l));
  expect(hit, `one row starting ${lead.join(' | ')}`).toHaveLength(1);
  return hit[0];
}
const bold = (cells: string[]) => cells.map((c) => c.startsWith('**') && c.endsWith('**'));

/** RFC 4180 records (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\n') row.push(field), rows.push(row), (row = []), (field = '');
    else field += c;
  }
  return rows;
}

describe('paper layout (Tables I–III)', () => {
  it('snapshots in every format', async () => {
    for (const [format, ext] of [['markdown', 'md'], ['latex', 'tex'], ['csv', 'csv'], ['json', 'json']] as const)
      await expect(await table([N1.id], format)).toMatchFileSnapshot(`./fixtures/report/paper.${ext}`);
  });

  it('bold: the best per model and step budget, ties all bold, ∞ medians never best, a lone row never', async () => {
    const md = await table([N1.id], 'markdown');
    const lines = mdRows(md);
    expect(lines[0]).toEqual(['Steps', 'Attack', 'ASR_10', 'ASR_50', 'ASR_∞', 'median ℓ0', 't (s/sample)', 'q (÷1000)', 'memory (MiB, logical)']);
    expect(lines[2]).toEqual(['*m-a*', '', '', '', '', '', '', '', '']); // the model's header row
    //                                                     ASR_10  ASR_50  ASR_∞  median  t      q      memory
    const ma = mdGroup(md, 'm-a');
    expect(mdRow(ma, '100', 'pdpgd')).toEqual(['100', 'pdpgd', '**50.0**', '**100.0**', '**100.0**', '**10**', '**0.250**', '**0.10**', '2.0']);
    expect(mdRow(ma, '100', 'sigma-zero')).toEqual(['100', 'sigma-zero', '**50.0**', '**100.0**', '**100.0**', '**10**', '0.500', '0.20', '3.0']);
    expect(mdRow(ma, '100', 'vfga')).toEqual(['100', 'vfga', '25.0', '25.0', '25.0', '∞', '**0.250**', '**0.10**', '**1.0**']);
    expect(bold(mdRow(ma, '1000', 'sigma-zero')).some(Boolean)).toBe(false); // alone at 1000 steps
    // m-b: every median ∞ → none bold; ASR 25 beats 0
    const mb = mdGroup(md, 'm-b');
    expect(mb).toHaveLength(2);
    expect(mb[0]).toEqual(['100', 'sigma-zero', '**25.0**', '**25.0**', '**25.0**', '∞', '0.500', '0.20', '3.0']);
    expect(mb[1]).toEqual(['100', 'vfga', '0.0', '0.0', '0.0', '∞', '**0.250**', '**0.10**', '**1.0**']);
    // groups in model order, steps ascending, attacks by label
    expect(lines.filter((r) => r[0].startsWith('*')).map((r) => r[0])).toEqual(['*m-a*', '*m-b*', '*m-c*']);
  });

  it('JSON: numbers as numbers, an ∞ median as null with median_l0_inf, the bold keys in best', async () => {
    const rows = JSON.parse(await table([N1.id], 'json')) as Record<string, unknown>[];
    const vfga = rows.find((r) => r.model === 'm-a' && r.attack === 'vfga')!;
    expect(vfga).toEqual({
      sweep: 'night-1',
      sweep_id: N1.id,
      dataset: 'mnist',
      model: 'm-a',
      attack: 'vfga',
      steps: 100,
      n: 4,
      asr_10: 25,
      asr_50: 25,
      asr_inf: 25,
      median_l0: null,
      median_l0_inf: true,
      seconds_per_sample: 0.25,
      queries_per_sample: 100,
      memory_bytes: MiB,
      memory_kind: 'logical',
      best: ['seconds_per_sample', 'queries_per_sample', 'memory_bytes'],
    });
    expect(rows.find((r) => r.model === 'm-a' && r.attack === 'pdpgd')).toMatchObject({ median_l0: 10, median_l0_inf: false });
    expect(rows).toHaveLength(10);
  });

  it('CSV: one row per attack × model × steps, plain numbers, ∞ as inf, no bold', async () => {
    const rows = parseCsv(await table([N1.id], 'csv'));
    expect(rows[0]).toEqual(['sweep', 'sweep_id', 'dataset', 'model', 'attack', 'steps', 'n', 'asr_10', 'asr_50', 'asr_inf', 'median_l0', 'seconds_per_sample', 'queries_per_sample', 'memory_bytes', 'memory_kind']);
    expect(rows).toHaveLength(11);
    expect(rows.find((r) => r[3] === 'm-a' && r[4] === 'vfga')).toEqual(['night-1', N1.id, 'mnist', 'm-a', 'vfga', '100', '4', '25', '25', '25', 'inf', '0.25', '100', String(MiB), 'logical']);
    expect(rows.flat().some((c) => c.includes('*'))).toBe(false);
  });

  it('--k: any k, from attack_summary or from the ASR_k query; the query is the one the README prints', async () => {
    const md = await table([N1.id], 'markdown', { ks: [8, 10, 24, 150], selection: { models: ['m-a'], steps: [100] } });
    expect(mdRows(md)[0]).toEqual(['Attack', 'ASR_8', 'ASR_10', 'ASR_24', 'ASR_150', 'ASR_∞', 'median ℓ0', 't (s/sample)', 'q (÷1000)', 'memory (MiB, logical)']);
    // k boundaries: ℓ0 = 8 counts at k = 8 (≤), ℓ0 = 40 and 45 count at 150
    expect(mdRow(md, 'sigma-zero').slice(1, 6)).toEqual(['**50.0**', '**50.0**', '**75.0**', '**100.0**', '**100.0**']);
    expect(mdRow(md, 'vfga').slice(1, 6)).toEqual(['25.0', '25.0', '25.0', '25.0', '25.0']);
    const readme = readFileSync(path.join(import.meta.dirname, '..', 'README.md'), 'utf8');
    expect(readme).toContain(asrAtKSql(['mnist-smoke-7e7fdd94fc'], [8, 30]));
    // …and it gives the same numbers as attack_summary at attack_summary's k
    const { rows: q } = await store.reports.query(asrAtKSql([N1.id], [10, 50]));
    const { rows: s } = await store.reports.query(`select attack, model, steps, asr_10, asr_50 from attack_summary where sweep_id = '${N1.id}'`);
    for (const r of s) {
      const at = (k: number) => q.find((x) => x.attack === r.attack && x.model === r.model && x.steps === r.steps && x.k === k)!.asr;
      expect([at(10), at(50)]).toEqual([r.asr_10, r.asr_50]);
    }
  });

  it('filters keep the order they are given in; one step budget drops the Steps column', async () => {
    const md = await table([N1.id], 'markdown', { selection: { models: ['m-b', 'm-a'], attacks: ['vfga', 'sigma-zero'], steps: [100] } });
    expect(mdRows(md).map((r) => r[0]).filter((c) => !c.startsWith('-'))).toEqual(['Attack', '*m-b*', 'vfga', 'sigma-zero', '*m-a*', 'vfga', 'sigma-zero']);
  });

  it('several sweeps side by side: one row per sweep, a Sweep column, bold across them, memory kinds kept apart', async () => {
    const md = await table([N1.id, N2.id], 'markdown', { selection: { models: ['m-a'], steps: [100] }, sweepColumn: true });
    const lines = mdRows(md);
    expect(lines[0]).toEqual(['Attack', 'Sweep', 'ASR_10', 'ASR_50', 'ASR_∞', 'median ℓ0', 't (s/sample)', 'q (÷1000)', 'memory (MiB)']);
    expect(lines.slice(3).map((r) => r.slice(0, 2))).toEqual([
      ['pdpgd', 'night-1'],
      ['sigma-zero', 'night-1'],
      ['sigma-zero', 'night-2'],
      ['vfga', 'night-1'],
      ['vfga', 'night-2'],
    ]);
    expect(mdRow(md, 'sigma-zero', 'night-2')).toEqual(['sigma-zero', 'night-2', '**50.0**', '75.0', '75.0', '12', '**0.250**', '0.20', '4.0 (device)']);
    expect(mdRow(md, 'vfga', 'night-1').at(-1)).toBe('1.0 (logical)'); // logical and device bytes are not compared: no memory bold
    await expect(md).toMatchFileSnapshot('./fixtures/report/two-sweeps.md');
    await expect(await table([N1.id, N2.id], 'latex', { selection: { models: ['m-a'], steps: [100] }, sweepColumn: true })).toMatchFileSnapshot('./fixtures/report/two-sweeps.tex');
  });
});

describe('fixed-budget layout (Tables VIII–XI)', () => {
  it('snapshots in every format', async () => {
    for (const [format, ext] of [['markdown', 'md'], ['latex', 'tex'], ['csv', 'csv'], ['json', 'json']] as const)
      await expect(await table([N1.id], format, { layout: 'fixed-budget' })).toMatchFileSnapshot(`./fixtures/report/fixed-budget.${ext}`);
  });

  it('only fixed-budget rows, k with its unit, best per model, k and unit', async () => {
    const md = await table([N1.id], 'markdown', { layout: 'fixed-budget' });
    const lines = mdRows(md);
    expect(lines[0]).toEqual(['Attack', 'k', 'ASR_k', 't (s/sample)', 'q (÷1000)']);
    expect(lines.slice(2)).toEqual([
      ['*m-c*', '', '', '', ''],
      ['sparse-rs', '24 features', '**75.0**', '1.000', '0.25'],
      ['σ0-budget', '24 features', '**75.0**', '**0.500**', '**0.20**'],
      ['pgd-l0-k10', '10 pixels', '75.0', '0.500', '0.20'], // alone at 10 pixels
      ['pgd-l0', '24 pixels', '50.0', '0.500', '0.20'], // 24 pixels is not 24 features
    ]);
    const only24 = await table([N1.id], 'markdown', { layout: 'fixed-budget', ks: [24] });
    expect(mdRows(only24).slice(3).map((r) => r[0])).toEqual(['sparse-rs', 'σ0-budget', 'pgd-l0']);
  });
});

describe('flat layout', () => {
  it('snapshots in every format (CSV prints the cells, as before the paper layouts)', async () => {
    for (const [format, ext] of [['markdown', 'md'], ['latex', 'tex'], ['csv', 'csv'], ['json', 'json']] as const)
      await expect(await table([N1.id], format, { layout: 'flat' })).toMatchFileSnapshot(`./fixtures/report/flat.${ext}`);
  });
});

describe('hostile labels render as text in every format', () => {
  const opts = (layout: RenderOptions['layout']): RenderOptions => ({ layout });

  it('markdown: no added row or column, no HTML, no markup', async () => {
    for (const layout of ['paper', 'flat'] as const) {
      const md = await table([HOST.id], 'markdown', opts(layout));
      const lines = md.trimEnd().split('\n');
      expect(lines).toHaveLength(layout === 'paper' ? 6 : 5); // header, rule, (model row), three attack rows
      const width = mdCells(lines[0]).length;
      for (const l of lines) expect(mdCells(l)).toHaveLength(width);
      expect(md).not.toMatch(/<script|<img|(?<!\\)\[l\]|(?<!\\)\*x|(?<!\\)`c/);
      expect(md).toContain('&lt;script&gt;x&lt;/script&gt;');
      await expect(md).toMatchFileSnapshot(`./fixtures/report/hostile-${layout}.md`);
    }
  });

  it('latex: one tabular, every special character escaped', async () => {
    for (const layout of ['paper', 'flat'] as const) {
      const tex = await table([HOST.id], 'latex', opts(layout));
      expect(tex.split('\n').filter((l) => l.includes('\\end{tabular}'))).toEqual(['\\end{tabular}']);
      expect(tex).not.toMatch(/<|>|[^\\]\$c|[^\\]&e/);
      expect(tex).toMatch(/^\{\[\}2em\{\]\}\{\*\}x & /m); // a row (after `\\` in the paper layout) starts with a braced [ and *
      await expect(tex).toMatchFileSnapshot(`./fixtures/report/hostile-${layout}.tex`);
    }
  });

  it('csv and json: the labels come back exactly', async () => {
    const csv = parseCsv(await table([HOST.id], 'csv'));
    expect(csv).toHaveLength(4);
    expect(csv.slice(1).map((r) => [r[3], r[4]])).toEqual([
      [HOSTILE_MODEL, '[2em]*x'],
      [HOSTILE_MODEL, HOSTILE_LABEL],
      [HOSTILE_MODEL, 'plain'],
    ]);
    const json = JSON.parse(await table([HOST.id], 'json')) as { model: string; attack: string }[];
    expect(json.map((r) => [r.model, r.attack])).toEqual([
      [HOSTILE_MODEL, '[2em]*x'],
      [HOSTILE_MODEL, HOSTILE_LABEL],
      [HOSTILE_MODEL, 'plain'],
    ]);
  });
});

describe('the LaTeX compiles', () => {
  const pdflatex = spawnSync('pdflatex', ['--version'], { encoding: 'utf8' });
  const why = pdflatex.error ? `pdflatex not found (${(pdflatex.error as NodeJS.ErrnoException).code}); install Debian's texlive-latex-base texlive-latex-recommended` : '';
  if (why) console.warn(`skipping the LaTeX compile test: ${why}`);

  it.skipIf(why)('every layout, with hostile labels, in a booktabs document, by pdflatex -halt-on-error', async () => {
    const tables: string[] = [];
    for (const layout of ['paper', 'fixed-budget', 'flat'] as const) tables.push(await table([N1.id], 'latex', { layout }));
    for (const layout of ['paper', 'flat'] as const) tables.push(await table([HOST.id], 'latex', { layout }));
    tables.push(await table([N1.id, N2.id], 'latex', { ks: [8, 24], sweepColumn: true }));
    const doc = [
      '\\documentclass{article}',
      '\\usepackage{booktabs}', // the one package the tables need (report.ts)
      '\\tracinglostchars=3', // a character the font lacks is an error, not a silent gap
      '\\begin{document}',
      ...tables.map((t) => `${t}\n\\bigskip\n`),
      '\\end{document}',
    ].join('\n');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sigma-latex-'));
    writeFileSync(path.join(dir, 'tables.tex'), doc);
    const r = spawnSync('pdflatex', ['-halt-on-error', '-interaction=nonstopmode', 'tables.tex'], { cwd: dir, encoding: 'utf8' });
    expect(r.status, r.stdout.slice(-3000)).toBe(0);
    expect(readFileSync(path.join(dir, 'tables.pdf')).subarray(0, 5).toString()).toBe('%PDF-');
    expect(r.stdout).not.toMatch(/Missing character/);
  });
});

describe('sigma-sweep table (CLI)', () => {
  beforeAll(async () => {
    await store.close(); // one process at a time on an embedded data dir
    closed = true;
  });

  it('flags: sweeps by name, --layout, --k, --steps, --models, --attacks, --format', async () => {
    const r = await cli(['table', '--sweep', 'night-1', '--sweep', 'night-2', '--models', 'm-a', '--steps', '100', '--attacks', 'vfga,sigma-zero', '--k', '10,24,inf', ...DB]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe(`sweeps ${N1.id}, ${N2.id}`);
    const md = lines.slice(2).join('\n');
    expect(mdRows(md)[0]).toEqual(['Attack', 'Sweep', 'ASR_10', 'ASR_24', 'ASR_∞', 'median ℓ0', 't (s/sample)', 'q (÷1000)', 'memory (MiB)']);
    expect(mdRows(md).slice(3).map((row) => row.slice(0, 2))).toEqual([
      ['vfga', 'night-1'],
      ['vfga', 'night-2'],
      ['sigma-zero', 'night-1'],
      ['sigma-zero', 'night-2'],
    ]);
    // the same sweeps as a comma list; json is the data alone
    const j = await cli(['table', '--sweep', 'night-1,night-2', '--models', 'm-a', '--format', 'json', ...DB]);
    expect(j.code, j.err).toBe(0);
    expect((JSON.parse(j.out) as unknown[]).length).toBe(6);
    const f = await cli(['table', '--sweep', N1.id, '--layout', 'fixed-budget', '--format', 'csv', ...DB]);
    expect(f.code, f.err).toBe(0);
    expect(f.out.split('\n')[0]).toBe('sweep,sweep_id,dataset,model,attack,steps,n,budget,budget_unit,asr_budget,seconds_per_sample,queries_per_sample');
    const t = await cli(['table', '--sweep', 'night-1', '--format', 'latex', ...DB]);
    expect(t.out.split('\n').slice(0, 2)).toEqual([`% sweep ${N1.id}`, '\\begin{tabular}{rlrrrrrrr}']);
    // the default (latest sweep, paper layout) is what renderTable prints for `run` and `submit --wait`
    const d = await cli(['table', ...DB]);
    expect(d.out.startsWith(`sweep ${HOST.id}\n\n| Attack`)).toBe(true);
  });

  it.each([
    [['--models', 'm-z'], /--models: no 'm-z' in the chosen sweep\(s\) \(have: .*m-a/],
    [['--attacks', 'sigma-zero,nope'], /--attacks: no 'nope'/],
    [['--steps', '7'], /--steps: no step budget 7 in the chosen sweep\(s\) \(have: 100, 1000\)/],
    [['--steps', '0'], /--steps: '0' is not a whole number ≥ 1/],
    [['--k', '10,x'], /--k: 'x' is not a whole number ≥ 0/],
    [['--k', '-1'], /--k: '-1' is not a whole number ≥ 0/],
    [['--layout', 'flat', '--k', '24'], /--k: the flat layout has fixed columns/],
    [['--layout', 'fixed-budget', '--models', 'm-a'], /fixed-budget: the chosen sweep\(s\) hold no fixed-budget runs/],
    [['--layout', 'fixed-budget', '--k', '50'], /--k: no fixed-budget runs at 50 \(budgets: 10, 24\)/],
    [['--layout', 'wide'], /argument 'wide' is invalid/],
    [['--models', ''], /--models: empty value/],
  ])('bad input %j: exit 2 naming the flag, nothing on stdout', async (args, message) => {
    const r = await cli(['table', '--sweep', 'night-1', ...args, ...DB]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });

  it('a label holding a comma matches when given whole', async () => {
    const r = await cli(['table', '--sweep', 'hostile', '--format', 'json', '--models', HOSTILE_MODEL, '--attacks', 'plain', ...DB]);
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as { attack: string }[]).map((x) => x.attack)).toEqual(['plain']);
  });
});
