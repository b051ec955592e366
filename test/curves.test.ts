/**
 * `sigma-sweep curves`: robustness curves from fixed per-sample rows (PGlite): the series read from
 * the robustness_curve view, the step lines' vertices, the SVG (one line path per attack, at the
 * right coordinates, panel titles, hostile names as text), the log-k (symlog) axis, the PNG (valid,
 * of the SVG's size × 2, not blank, with its text drawn) and the command's files and errors.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../orchestrator/db/store.ts';
import { CHART_HEIGHT, CHART_WIDTH, curveSpec, logTicks, panelsOf, renderSvg, slug, stepVertices } from '../orchestrator/curves/chart.ts';
import { readCurves, type CurveSeries } from '../orchestrator/curves/data.ts';
import { chooseFont, PNG_SCALE, svgToPng } from '../orchestrator/curves/png.ts';
import { cli } from './helpers/cli.ts';
import { addSweep, HOSTILE_MODEL } from './helpers/report-rows.ts';

const SWEEP = 'curves-1';
let dataDir: string;
let series: CurveSeries[];

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'sigma-curves-'));
  const store = await Store.open({ dataDir });
  await addSweep(store, SWEEP, { name: 'curves' }, [
    { model: 'm1', attack: 'alpha', l0s: [0, 3, 5, null] },
    { model: 'm1', attack: 'alpha', steps: 1000, l0s: [0, 2, 4, 6] },
    { model: 'm1', attack: 'beta', l0s: [2, 2, 7, 9] },
    { model: 'm1', attack: 'never', l0s: [null, null, null, null] },
    { model: HOSTILE_MODEL, attack: 'alpha', l0s: [1, 2, 3, 4] },
  ]);
  series = await readCurves(store, SWEEP);
  await store.close();
});

/** The line paths of an SVG: per path its aria-label and its vertices. */
function linePaths(svg: string): Array<{ label: string; vertices: Array<[number, number]> }> {
  const groups = [...svg.matchAll(/<g class="mark-line role-mark[^"]*"[^>]*>(.*?)<\/g>/gs)].map((m) => m[1]);
  return groups.flatMap((g) =>
    [...g.matchAll(/<path aria-label="([^"]*)"[^>]* d="([^"]*)"/g)].map((m) => ({
      label: m[1],
      // vertices in order, a repeated one once (the step-after line ends with a zero-length step)
      vertices: [...m[2].matchAll(/(-?[\d.]+),(-?[\d.]+)/g)]
        .map((v) => [Number(v[1]), Number(v[2])] as [number, number])
        .filter((v, i, all) => i === 0 || v[0] !== all[i - 1][0] || v[1] !== all[i - 1][1]),
    })),
  );
}

/** The PNG's width and height from its IHDR chunk (after checking the signature). */
function pngSize(png: Buffer): { width: number; height: number } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(png.subarray(12, 16).toString('ascii')).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/** Pixels (RGB) that differ from white, and pixels that differ between two same-size PNGs. */
async function pixels(png: Buffer): Promise<Buffer> {
  return sharp(png).removeAlpha().raw().toBuffer();
}
const nonWhite = (raw: Buffer) => {
  let n = 0;
  for (let i = 0; i < raw.length; i += 3) if (raw[i] < 250 || raw[i + 1] < 250 || raw[i + 2] < 250) n++;
  return n;
};
const differing = (a: Buffer, b: Buffer) => {
  let n = 0;
  for (let i = 0; i < a.length; i += 3) if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) n++;
  return n;
};

const svgSize = (svg: string) => ({ width: Number(/<svg[^>]*\swidth="([\d.]+)"/.exec(svg)![1]), height: Number(/<svg[^>]*\sheight="([\d.]+)"/.exec(svg)![1]) });

describe('curves', () => {
  it('reads one series per group from robustness_curve; a group that never succeeded is a series without points', () => {
    expect(series.map((s) => [s.model, s.attack, s.steps, s.n, s.points.map((p) => [p.k, p.asr])])).toEqual([
      [HOSTILE_MODEL, 'alpha', 100, 4, [[1, 25], [2, 50], [3, 75], [4, 100]]],
      ['m1', 'alpha', 100, 4, [[0, 25], [3, 50], [5, 75]]],
      ['m1', 'alpha', 1000, 4, [[0, 25], [2, 50], [4, 75], [6, 100]]],
      ['m1', 'beta', 100, 4, [[2, 50], [7, 75], [9, 100]]],
      ['m1', 'never', 100, 4, []],
    ]);
  });

  it('step vertices: ASR(0) at k = 0, every step inside, flat to k_max; ASR(k_max) counts a step at k_max', () => {
    expect(stepVertices([{ k: 0, asr: 25 }, { k: 3, asr: 50 }, { k: 5, asr: 75 }], 9)).toEqual([{ k: 0, asr: 25 }, { k: 3, asr: 50 }, { k: 5, asr: 75 }, { k: 9, asr: 75 }]);
    expect(stepVertices([{ k: 2, asr: 50 }, { k: 7, asr: 75 }, { k: 9, asr: 100 }], 9)).toEqual([{ k: 0, asr: 0 }, { k: 2, asr: 50 }, { k: 7, asr: 75 }, { k: 9, asr: 100 }]);
    expect(stepVertices([{ k: 2, asr: 50 }, { k: 7, asr: 75 }], 4)).toEqual([{ k: 0, asr: 0 }, { k: 2, asr: 50 }, { k: 4, asr: 50 }]);
    expect(stepVertices([], 9)).toEqual([{ k: 0, asr: 0 }, { k: 9, asr: 0 }]);
    expect(logTicks(9)).toEqual([0, 1, 2, 5]);
    expect(logTicks(784)).toEqual([0, 1, 2, 5, 10, 20, 50, 100, 200, 500]);
  });

  it('SVG: one line path per attack (and step budget), at the coordinates of its steps, with the panel title', async () => {
    const [, m1] = panelsOf(series);
    const svg = await renderSvg(curveSpec(m1, { sweepId: SWEEP }));
    const lines = linePaths(svg);
    expect(lines.map((l) => /attack: (.*)$/.exec(l.label)![1]).sort()).toEqual(['alpha (100 steps)', 'alpha (1000 steps)', 'beta (100 steps)', 'never (100 steps)']);
    expect(svg).toMatch(/<text[^>]*>m1<\/text>/);
    expect(svg).toContain(`mnist · N = 4 · sweep ${SWEEP}`);
    expect(svg).toContain('ASR (%)');
    // k_max = 9 (the largest finite ℓ0 of the panel) spans the width; ASR 100 % the height
    const x = (k: number) => (k / 9) * CHART_WIDTH;
    const y = (asr: number) => CHART_HEIGHT * (1 - asr / 100);
    const alpha = lines.find((l) => l.label.endsWith('attack: alpha (100 steps)'))!;
    const want: Array<[number, number]> = [[x(0), y(25)], [x(3), y(25)], [x(3), y(50)], [x(5), y(50)], [x(5), y(75)], [x(9), y(75)]];
    expect(alpha.vertices.length).toBe(want.length);
    alpha.vertices.forEach(([vx, vy], i) => {
      expect(vx).toBeCloseTo(want[i][0], 2);
      expect(vy).toBeCloseTo(want[i][1], 2);
    });
    const never = lines.find((l) => l.label.endsWith('attack: never (100 steps)'))!;
    expect(never.vertices).toEqual([[0, CHART_HEIGHT], [CHART_WIDTH, CHART_HEIGHT]]);
  });

  it('SVG: a hostile model name is the escaped title text, never markup; one step budget: labels without steps', async () => {
    const [hostile] = panelsOf(series);
    const svg = await renderSvg(curveSpec(hostile));
    expect(svg).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(svg).not.toContain('<img');
    expect(linePaths(svg).map((l) => /attack: (.*)$/.exec(l.label)![1])).toEqual(['alpha']);
    expect(slug(HOSTILE_MODEL)).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
    expect(slug(HOSTILE_MODEL)).not.toBe(slug('<img src=x onerror=alert(2)>'));
    expect(slug('mnist-smallcnn')).toBe('mnist-smallcnn');
  });

  it('log-k: a symlog axis with 0, 1, 2, 5 ticks; the k = 0 points stay at the left edge', async () => {
    const [, m1] = panelsOf(series);
    const spec = curveSpec(m1, { logK: true }) as { encoding: { x: { scale: { type: string } } } };
    expect(spec.encoding.x.scale.type).toBe('symlog');
    const svg = await renderSvg(curveSpec(m1, { logK: true }));
    expect(svg).toContain('symlog scale');
    const alpha = linePaths(svg).find((l) => l.label.endsWith('attack: alpha (100 steps)'))!;
    const x = (k: number) => (CHART_WIDTH * Math.log1p(k)) / Math.log1p(9);
    expect(alpha.vertices[0]).toEqual([0, CHART_HEIGHT * 0.75]); // (k 0, ASR 25 %)
    expect(alpha.vertices[1][0]).toBeCloseTo(x(3), 2);
    expect(alpha.vertices[3][0]).toBeCloseTo(x(5), 2);
    const ticks = [...svg.matchAll(/<g class="mark-text role-axis-label"[^>]*>(.*?)<\/g>/gs)].map((m) => [...m[1].matchAll(/>([^<]*)<\/text>/g)].map((t) => t[1]));
    expect(ticks).toContainEqual(['0', '1', '2', '5']);
  });

  it('PNG: a valid PNG of the SVG size × 2, not blank, with its text drawn', async () => {
    expect(chooseFont().family).not.toBeNull(); // CI installs fonts-dejavu-core
    const [, m1] = panelsOf(series);
    const svg = await renderSvg(curveSpec(m1));
    const png = svgToPng(svg);
    const size = svgSize(svg);
    expect(pngSize(png)).toEqual({ width: Math.round(size.width * PNG_SCALE), height: Math.round(size.height * PNG_SCALE) });
    const raw = await pixels(png);
    const total = raw.length / 3;
    expect(nonWhite(raw) / total).toBeGreaterThan(0.02); // grid, axes, four lines
    // the same picture without its <text> elements differs: the labels were drawn with a font
    const withoutText = await pixels(svgToPng(svg.replace(/<text[^>]*>.*?<\/text>/gs, '')));
    expect(differing(raw, withoutText)).toBeGreaterThan(2000);
  });

  it('the command writes curves-<model>.svg/png per model and prints their paths', async () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'sigma-curves-out-'));
    const r = await cli(['curves', '--data-dir', dataDir, '--sweep', SWEEP, '--out', out]);
    expect(r.code).toBe(0);
    const paths = r.out.trim().split('\n');
    expect(paths).toEqual([
      path.join(out, `curves-${slug(HOSTILE_MODEL)}.svg`),
      path.join(out, `curves-${slug(HOSTILE_MODEL)}.png`),
      path.join(out, 'curves-m1.svg'),
      path.join(out, 'curves-m1.png'),
    ]);
    for (const p of paths) expect(existsSync(p)).toBe(true);
    expect(readFileSync(paths[2], 'utf8')).toMatch(/^<svg /);
    pngSize(readFileSync(paths[3]));

    const one = await cli(['curves', '--data-dir', dataDir, '--out', out, '--format', 'png', '--models', 'm1', '--attacks', 'beta', '--steps', '100', '--log-k', '--k-max', '20']);
    expect(one).toMatchObject({ code: 0, out: `${path.join(out, 'curves-m1.png')}\n` });
  });

  it('bad input exits 2 naming the flag, and writes nothing', async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'sigma-curves-bad-')), 'never');
    const cases: Array<[string[], RegExp]> = [
      [['--models', 'nope'], /--models: 'nope' not in this sweep \(have: .*m1/],
      [['--attacks', 'alpha,zeta'], /--attacks: 'zeta' not in this sweep/],
      [['--steps', '7'], /--steps: no 7-step runs in this sweep \(have: 100, 1000\)/],
      [['--format', 'svg,gif'], /--format: 'svg,gif' is not a list of svg, png/],
      [['--k-max', '0'], /--k-max: '0' is not a whole number ≥ 1/],
      [['--sweep', 'nope'], /--sweep: no sweep 'nope'/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(['curves', '--data-dir', dataDir, '--sweep', SWEEP, '--out', out, ...args]); // a second --sweep wins
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.err).toMatch(message);
    }
    expect(existsSync(out)).toBe(false);
  });
});

