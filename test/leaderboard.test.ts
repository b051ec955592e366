/**
 * The nightly leaderboard: the spec field (ids of other specs unchanged, one id per night), the
 * leaderboard views on PGlite and PostgreSQL (hand-computed optimality, forwards and backwards per
 * sample, options from the spec), the ranking and change rules, and the generated site from two
 * nights of fixed rows where one attack gets worse (ranking order, regression marker, escaping,
 * nothing fetched from elsewhere) and the command's errors.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../orchestrator/db/store.ts';
import { planSweep, sweepId } from '../orchestrator/planner.ts';
import { defaultNight, SpecError, validateSpec } from '../orchestrator/spec.ts';
import { buildBoard, changeOf, compareValues, parseMetric, type Metric } from '../orchestrator/leaderboard/board.ts';
import type { Entry, Night } from '../orchestrator/leaderboard/data.ts';
import { buildSite } from '../orchestrator/leaderboard/site.ts';
import { sqlText } from '../orchestrator/curves/sql-literal.ts';
import { escapeHtml, html } from '../orchestrator/leaderboard/html.ts';
import { cli } from './helpers/cli.ts';
import { createTempDatabase } from './helpers/pg.ts';
import { addLeaderboardNights, addSweep, HOSTILE_ATTACK, HOSTILE_MODEL, LEADERBOARD } from './helpers/report-rows.ts';

const base = {
  name: 'nightly',
  datasets: [{ name: 'mnist', split: 'test', samples: { first: 10 } }],
  models: ['mnist-smallcnn'],
  attacks: ['sigma-zero'],
  steps: [100],
};
const validate = (raw: unknown) => validateSpec(raw, 'spec.yaml', process.cwd());
function problems(raw: unknown): string[] {
  try {
    validate(raw);
  } catch (e) {
    if (e instanceof SpecError) return e.problems;
    throw e;
  }
  return [];
}

describe('spec field leaderboard', () => {
  it('absent: the spec and its sweep id are as before (no leaderboard key at all)', () => {
    const s = validate(base);
    expect('leaderboard' in s).toBe(false);
    // the id this spec had before the field existed (computed with the spec module of commit 03d6039)
    expect(sweepId(s)).toBe('nightly-de2659fe73');
    expect(sweepId(validate({ ...base, leaderboard: undefined }))).toBe(sweepId(s));
  });

  it('a name, or { name, night }: one sweep id per night, the same id for the same night', () => {
    const before = defaultNight();
    const short = validate({ ...base, leaderboard: 'mnist-nightly' });
    const after = defaultNight();
    expect(short.leaderboard?.name).toBe('mnist-nightly');
    expect([before, after]).toContain(short.leaderboard?.night);
    expect(short.leaderboard?.night).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const n1 = validate({ ...base, leaderboard: { name: 'mnist-nightly', night: '2025-06-01' } });
    const n1again = validate({ ...base, leaderboard: { name: 'mnist-nightly', night: '2025-06-01' } });
    const n2 = validate({ ...base, leaderboard: { name: 'mnist-nightly', night: '2025-06-02' } });
    expect(n1.leaderboard).toEqual({ name: 'mnist-nightly', night: '2025-06-01' });
    expect(sweepId(n1)).toBe(sweepId(n1again));
    expect(new Set([sweepId(validate(base)), sweepId(n1), sweepId(n2)]).size).toBe(3);
    expect(defaultNight(new Date('2025-06-01T23:59:59Z'))).toBe('2025-06-01');
  });

  it('bad values are named by field', () => {
    expect(problems({ ...base, leaderboard: 'bad name' })).toEqual(['leaderboard: letters, digits, ".", "_" and "-" only']);
    expect(problems({ ...base, leaderboard: { name: 'x', night: 'June 1st' } })).toEqual([expect.stringMatching(/^leaderboard\.night: letters, digits/)]);
    expect(problems({ ...base, leaderboard: { name: 'x', nightly: true } })).toEqual([expect.stringMatching(/^leaderboard: Unrecognized key.*nightly/)]);
    expect(problems({ ...base, leaderboard: 7 })).toEqual(['leaderboard: expected a leaderboard name or { name, night? }, got 7']);
  });
});

const backends: Array<[string, () => Promise<{ store: Store; done: () => Promise<void> }>]> = [
  ['PGlite', async () => ({ store: await Store.open({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'sigma-lb-')) }), done: async () => {} })],
  [
    'PostgreSQL',
    async () => {
      const db = await createTempDatabase();
      return { store: await Store.open({ databaseUrl: db.url }), done: db.drop };
    },
  ],
];

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

describe.each(backends)('leaderboard views on %s', (_name, open) => {
  let store: Store;
  beforeAll(async () => {
    const o = await open();
    store = o.store;
    cleanups.push(async () => (await store.close(), await o.done()));
    await addLeaderboardNights(store);
  });

  it('names written into report queries come back exactly (quotes, backslashes, newlines)', async () => {
    const nasty = `it's \\ a '' back\\'slash\n"quoted" E'x' $$ --`;
    const { rows } = await store.reports.query(`select ${sqlText(nasty)} as v`);
    expect(rows).toEqual([{ v: nasty }]);
    expect(() => sqlText('a\0b')).toThrow(/NUL/);
    await expect(buildSite(store, { name: nasty, out: os.tmpdir(), metric: parseMetric('asr10'), ks: [] })).rejects.toThrow(/--name: no leaderboard/);
  });

  it('leaderboard_nights: the sweeps whose spec names a leaderboard, numbered by created_at', async () => {
    const { rows } = await store.reports.query(`select leaderboard, night, sweep_id, night_index from leaderboard_nights order by leaderboard, night_index`);
    expect(rows).toEqual([
      { leaderboard: LEADERBOARD, night: '2025-06-01', sweep_id: 'lb-night-1', night_index: 1 },
      { leaderboard: LEADERBOARD, night: '2025-06-02', sweep_id: 'lb-night-2', night_index: 2 },
      { leaderboard: 'other-board', night: '2025-06-02', sweep_id: 'other-1', night_index: 1 },
    ]);
  });

  it('a planned spec with the field is a night as stored by run/submit (sweeps.spec)', async () => {
    const spec = validate({ ...base, name: 'planned', leaderboard: { name: 'planned-board', night: '2025-07-01' } });
    const { sweepId: id } = planSweep(spec);
    await store.sweeps.upsert(id, spec.name, spec); // what embedded.ts and submit.ts store
    const { rows } = await store.reports.query(`select night, sweep_id from leaderboard_nights where leaderboard = 'planned-board'`);
    expect(rows).toEqual([{ night: '2025-07-01', sweep_id: id }]);
  });

  it('leaderboard_entries: AttackBench columns per night (hand-computed ξ, calls per sample, the spec options)', async () => {
    const { rows } = await store.reports.query(
      `select night_index, attack, attack_name, attack_options, n, asr_10, asr_50, asr_inf, median_l0, optimality, forwards_per_sample, backwards_per_sample, seconds_per_sample
       from leaderboard_entries where leaderboard = '${LEADERBOARD}' and model = 'm1' order by night_index, attack`,
    );
    const common = { n: 4, forwards_per_sample: 10, backwards_per_sample: 5, seconds_per_sample: 0.5 };
    // W = c·ε_max − c/2, the area of an attack that breaks nothing (by the same trapezoid rule)
    // night 1: δ* = [2, 5, 8, 20], ε_max 20, A* = 35/4 − 1/2 = 8.25, W − A* = 19.5 − 8.25 = 11.25
    // night 2: δ* = [2, 9, 11, 20], A* = 10, W − A* = 9.5
    const want = [
      { night_index: 1, attack: 'alpha', attack_name: 'sigma-zero', attack_options: {}, asr_10: 75, asr_50: 100, asr_inf: 100, median_l0: 6.5, optimality: 44 / 45 },
      { night_index: 1, attack: 'beta', attack_name: 'fmn-l0', attack_options: { lr: 0.5 }, asr_10: 0, asr_50: 50, asr_inf: 75, median_l0: 45, optimality: 8 / 45 },
      { night_index: 1, attack: 'gamma', attack_name: 'pgd-l0+search', attack_options: {}, asr_10: 50, asr_50: 75, asr_inf: 75, median_l0: 10, optimality: 38 / 45 },
      { night_index: 2, attack: 'alpha', attack_name: 'sigma-zero', attack_options: {}, asr_10: 0, asr_50: 100, asr_inf: 100, median_l0: 16.5, optimality: 7 / 19 },
      { night_index: 2, attack: 'beta', attack_name: 'fmn-l0', attack_options: { lr: 0.5 }, asr_10: 25, asr_50: 75, asr_inf: 100, median_l0: 35, optimality: 6 / 19 },
      { night_index: 2, attack: 'gamma', attack_name: 'pgd-l0+search', attack_options: {}, asr_10: 50, asr_50: 75, asr_inf: 75, median_l0: 10, optimality: 1 },
    ];
    expect(rows.length).toBe(want.length);
    rows.forEach((r, i) => {
      const { optimality, ...rest } = r as { optimality: number };
      const { optimality: xi, ...exact } = want[i];
      expect(rest).toEqual({ ...exact, ...common });
      expect(optimality).toBeCloseTo(xi, 12);
    });
  });

  it('the site from two nights: ranking by ASR_10, the regression marked in words, hostile names as text', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'sigma-lb-site-'));
    const { paths, board } = await buildSite(store, { name: LEADERBOARD, out, metric: parseMetric('asr10'), ks: [10, 50], now: new Date('2025-06-02T06:00:00Z') });
    expect(paths.map((p) => path.basename(p))).toEqual(['index.html', expect.stringMatching(/^curves-img_src_x_onerror_alert_1_-[0-9a-f]{8}\.svg$/), 'curves-m1.svg']);
    expect(board.latest.sweepId).toBe('lb-night-2');
    const page = readFileSync(path.join(out, 'index.html'), 'utf8');

    // ranking of m1 on night 2 by ASR_10: gamma 50, beta 25, alpha 0 (night 1 was alpha, gamma, beta)
    const m1 = page.slice(page.indexOf('<caption>m1 on mnist: attacks ranked by ASR_10'));
    const ranking = m1.slice(0, m1.indexOf('</table>'));
    expect([...ranking.matchAll(/<th scope="row" data-sort="([^"]*)">/g)].map((m) => m[1])).toEqual(['gamma', 'beta', 'alpha']);
    // alpha fell from 75 to 0: a regression, in text (not only colour), explained in title and aria-label
    const alphaRow = /<tr class="regression">.*?<\/tr>/.exec(ranking)?.[0] ?? '';
    expect(alphaRow).toContain('data-sort="alpha"');
    expect(alphaRow).toContain('▼ regression (−75.0)');
    expect(alphaRow).toContain('aria-label="regression: ASR_10 worsened from 75.0 to 0.0 since night 2025-06-01"');
    expect(/<tr class="improvement">.*?<\/tr>/.exec(ranking)?.[0]).toContain('▲ improvement (+25.0)');
    expect(ranking.match(/▼ regression/g)).toHaveLength(1);
    // columns: options from the spec, calls and time per sample
    expect(ranking).toContain('fmn-l0 {&quot;lr&quot;:0.5}');
    expect(/<tr class="regression">.*?<\/tr>/.exec(ranking)?.[0]).toMatch(/<td data-sort="10">10\.0<\/td><td data-sort="5">5\.0<\/td><td data-sort="0\.5">0\.500<\/td>/);
    // history of m1: both nights, the regression marked on night 2
    const history = m1.slice(m1.indexOf('<caption>ASR_10 of m1 over the nights'));
    expect(history.slice(0, history.indexOf('</table>'))).toMatch(/<td data-sort="0" class="regression">0\.0 <span class="change regression"[^>]*>▼ regression \(−75\.0\)<\/span><\/td>/);
    // the curves of both models are embedded by relative file name
    expect(page).toContain('<img src="curves-m1.svg" width="');

    // hostile names are text everywhere; the only markup is ours
    expect(page).toContain(escapeHtml(HOSTILE_MODEL));
    expect(page).toContain(escapeHtml(HOSTILE_ATTACK));
    expect(page).not.toContain(HOSTILE_MODEL);
    expect(page).not.toContain('<svg onload');
    expect(page.match(/<script\b/g)).toHaveLength(1);
    // no event-handler attribute in any tag (quoted values, where escaped names live, set aside)
    const tags = [...page.matchAll(/<[a-zA-Z][^>]*>/g)].map((m) => m[0].replace(/"[^"]*"/g, '""'));
    expect(tags.length).toBeGreaterThan(100);
    expect(tags.filter((t) => /\son\w+\s*=/i.test(t))).toEqual([]);
    // nothing is fetched from elsewhere: every src/href is a file next to index.html or a fragment
    const refs = [...page.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
    for (const r of refs) expect(r === 'data:,' || r.startsWith('#') || existsSync(path.join(out, r))).toBe(true);
    expect(readdirSync(out).sort()).toEqual(paths.map((p) => path.basename(p)).sort());
  });

  it('other metrics and budgets: median ℓ0 (lower is better), optimality, ASR at --k 24', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'sigma-lb-site-'));
    const order = async (metric: string, ks: number[] = [10, 50]) => {
      const { board } = await buildSite(store, { name: LEADERBOARD, out, metric: parseMetric(metric), ks });
      const m1 = board.sections.find((s) => s.model === 'm1')!;
      return m1.rows.map((r) => [r.entry.attack, r.value, r.change.kind]);
    };
    expect(await order('median')).toEqual([['gamma', 10, 'same'], ['alpha', 16.5, 'regression'], ['beta', 35, 'improvement']]);
    const xi = await order('optimality');
    expect(xi.map((r) => [r[0], r[2]])).toEqual([['gamma', 'improvement'], ['alpha', 'regression'], ['beta', 'improvement']]);
    // ASR_24 (added to the columns by the metric), night 2: alpha [13,15,18,20] 100, gamma [2,9,11,∞] 75,
    // beta [8,30,40,60] 25; night 1 the same values (alpha [3,5,8,20], gamma, beta [12,30,∞,60])
    expect(await order('asr24', [])).toEqual([['alpha', 100, 'same'], ['gamma', 75, 'same'], ['beta', 25, 'same']]);
    const page = readFileSync(path.join(out, 'index.html'), 'utf8');
    expect(page).toContain('ASR_24 (%)');
    expect(page).not.toContain('ASR_10 (%)');
  });
});

describe('ranking and change rules', () => {
  const night = (index: number): Night => ({ index, night: `n${index}`, sweepId: `s${index}`, createdAt: '' });
  const entry = (nightIndex: number, attack: string, asr10: number, median: number, optimality: number | null = null): Entry => ({
    nightIndex,
    dataset: 'd',
    model: 'm',
    attack,
    attackName: attack,
    options: {},
    steps: 100,
    n: 10,
    asrAt: { 10: asr10 },
    asrInf: 100,
    medianL0: median,
    optimality,
    forwardsPerSample: null,
    backwardsPerSample: null,
    secondsPerSample: null,
  });
  const asr10: Metric = { kind: 'asr', k: 10 };
  const median: Metric = { kind: 'median' };

  it('changes are judged at the displayed precision; ∞ medians and missing values are worst', () => {
    expect(compareValues(50.04, 50, asr10)).toBe(0);
    expect(compareValues(50.1, 50, asr10)).toBe(1);
    expect(compareValues(Infinity, 40, median)).toBe(-1);
    expect(compareValues(Infinity, Infinity, median)).toBe(0);
    expect(compareValues(null, 0, { kind: 'optimality' })).toBe(-1);
    expect(compareValues(0.9994, 0.9996, { kind: 'optimality' })).toBe(-1);
    expect(changeOf(entry(2, 'a', 10, 5), undefined, night(1), asr10).kind).toBe('new');
    expect(changeOf(entry(2, 'a', 10, Infinity), entry(1, 'a', 10, 40), night(1), median)).toMatchObject({ kind: 'regression', from: 40, to: Infinity });
  });

  it('competition ranking (ties share a rank), history over the last nights, new attacks', () => {
    const nights = [1, 2, 3].map(night);
    const entries = [entry(1, 'a', 50, 9), entry(2, 'a', 60, 9), entry(3, 'a', 40, 9), entry(3, 'b', 40, 12), entry(3, 'c', 70, 3)];
    const b = buildBoard('x', nights, entries, asr10, [10], 2);
    expect(b.shownNights.map((n) => n.index)).toEqual([2, 3]);
    const rows = b.sections[0].rows;
    expect(rows.map((r) => [r.entry.attack, r.rank, r.change.kind])).toEqual([['c', 1, 'new'], ['a', 2, 'regression'], ['b', 2, 'new']]);
    expect(rows[1].history.map((h) => [h.night.index, h.value, h.change?.kind])).toEqual([[2, 60, 'improvement'], [3, 40, 'regression']]);
    expect(rows[0].history.map((h) => [h.night.index, h.entry === undefined])).toEqual([[2, true], [3, false]]);
    expect(() => parseMetric('asr')).toThrow(/--metric: 'asr' is not one of/);
    expect(parseMetric('asr150')).toEqual({ kind: 'asr', k: 150 });
  });

  it('the html tag escapes every value and keeps its own markup', () => {
    expect(html`<td title="${`a"b'c`}">${'<b>&</b>'}</td>`.text).toBe('<td title="a&quot;b&#39;c">&lt;b&gt;&amp;&lt;/b&gt;</td>');
    expect(html`<p>${[html`<i>${'<'}</i>`, '>']}</p>`.text).toBe('<p><i>&lt;</i>&gt;</p>');
  });
});

describe('leaderboard command', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'sigma-lb-cli-'));
    const store = await Store.open({ dataDir });
    await addLeaderboardNights(store);
    // a night submitted but without results yet: not ranked, not compared with
    await addSweep(store, 'lb-night-3', { name: 'lb', leaderboard: { name: LEADERBOARD, night: '2025-06-03' } }, []);
    await store.close();
  });

  it('writes the site and prints its paths; a night without results is left out', async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'sigma-lb-out-')), 'site');
    const r = await cli(['leaderboard', '--data-dir', dataDir, '--name', LEADERBOARD, '--out', out, '--metric', 'median', '--log-k']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe(path.join(out, 'index.html'));
    expect(r.out.trim().split('\n')).toHaveLength(3);
    const page = readFileSync(path.join(out, 'index.html'), 'utf8');
    expect(page).toContain('Night <strong>2025-06-02</strong> (the latest of 2 nights; sweep <code>lb-night-2</code>)');
    expect(page).not.toContain('2025-06-03');
    expect(readFileSync(path.join(out, 'curves-m1.svg'), 'utf8')).toContain('symlog scale');
  });

  it('bad input exits 2 naming the flag', async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'sigma-lb-bad-')), 'site');
    const cases: Array<[string[], RegExp]> = [
      [['--name', 'nope'], /--name: no leaderboard 'nope' in this database \(have: mnist-nightly, other-board\)/],
      [['--name', LEADERBOARD, '--metric', 'speed'], /--metric: 'speed' is not one of asr<k>/],
      [['--name', LEADERBOARD, '--k', '10,x'], /--k: '10,x' is not a comma-separated list/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['leaderboard', '--data-dir', dataDir, '--out', out, ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.err).toMatch(message);
    }
    expect(existsSync(out)).toBe(false);
  });
});
