/**
 * Robustness curves as a vega-lite specification (one panel per dataset × model, one step line per
 * attack, ASR in % against the ℓ0 budget k), rendered to SVG by vega in Node (no DOM: renderer
 * 'none', then View.toSVG). vega escapes every text it writes into the SVG, so labels and model
 * names stay text.
 *
 * ASR(k) is a right-continuous step function of k: each line starts at k = 0 (the share of samples
 * misclassified before any attack, or already broken with ℓ0 0), steps up at each distinct finite ℓ0
 * of the group (robustness_curve), and runs flat to the panel's right edge k_max (the largest finite
 * ℓ0 of the panel, or --k-max). With the log-k option the x scale is symlog (log(1 + k)): linear
 * between 0 and 1 and logarithmic above, so the k = 0 points stay on the plot instead of being
 * dropped as a log scale would have to.
 */
import { createHash } from 'node:crypto';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { CurvePoint, CurveSeries } from './data.ts';

export interface Panel {
  dataset: string;
  model: string;
  series: CurveSeries[];
}

export interface ChartOptions {
  /** symlog x scale */
  logK?: boolean;
  /** right edge of the x axis (default: the largest finite ℓ0 of the panel) */
  kMax?: number;
  /** shown under the title */
  sweepId?: string;
}

/** Fonts the SVG asks for, in order; the PNG rasteriser loads the first it finds (png.ts). */
export const FONT_STACK = 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif';

export const CHART_WIDTH = 480;
export const CHART_HEIGHT = 300;

/** Group series into panels, one per (dataset, model), in the order they come. */
export function panelsOf(series: readonly CurveSeries[]): Panel[] {
  const out = new Map<string, Panel>();
  for (const s of series) {
    const key = JSON.stringify([s.dataset, s.model]);
    let p = out.get(key);
    if (!p) out.set(key, (p = { dataset: s.dataset, model: s.model, series: [] }));
    p.series.push(s);
  }
  return [...out.values()];
}

/** A line's legend label: the attack's label, with its step budget when the panel has several. */
export function lineLabel(s: CurveSeries, panel: Panel): string {
  const budgets = new Set(panel.series.map((x) => x.steps));
  return budgets.size > 1 ? `${s.attack} (${s.steps} steps)` : s.attack;
}

/** ASR of a series at budget k: the last point at or below k, 0 before the first. */
export function asrAt(points: readonly CurvePoint[], k: number): number {
  let asr = 0;
  for (const p of points) {
    if (p.k > k) break;
    asr = p.asr;
  }
  return asr;
}

/** The panel's k_max: the largest finite ℓ0 reached by any of its lines (at least 1, so the axis has a width). */
export function panelKMax(panel: Panel): number {
  return Math.max(1, ...panel.series.flatMap((s) => s.points.map((p) => p.k)));
}

/** The vertices of a series' step line on [0, kMax]: (0, ASR(0)), each step inside, (kMax, ASR(kMax)). */
export function stepVertices(points: readonly CurvePoint[], kMax: number): CurvePoint[] {
  const inside = points.filter((p) => p.k > 0 && p.k < kMax);
  return [{ k: 0, asr: asrAt(points, 0) }, ...inside, { k: kMax, asr: asrAt(points, kMax) }];
}

/** Tick values of the symlog axis: 0 and 1-2-5 steps up to kMax. */
export function logTicks(kMax: number): number[] {
  const ticks = [0];
  for (let decade = 1; decade <= kMax; decade *= 10) for (const m of [1, 2, 5]) if (m * decade <= kMax) ticks.push(m * decade);
  return ticks;
}

/** The vega-lite specification of one panel. */
export function curveSpec(panel: Panel, opts: ChartOptions = {}): vl.TopLevelSpec {
  const kMax = opts.kMax ?? panelKMax(panel);
  const labels = panel.series.map((s) => lineLabel(s, panel));
  const values = panel.series.flatMap((s, i) => stepVertices(s.points, kMax).map((p) => ({ line: labels[i], k: p.k, asr: p.asr })));
  const n = [...new Set(panel.series.map((s) => s.n))];
  const subtitle = [panel.dataset, n.length === 1 ? `N = ${n[0]}` : `N = ${n.join('/')}`, ...(opts.sweepId ? [`sweep ${opts.sweepId}`] : [])].join(' · ');
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: panel.model, subtitle, anchor: 'start' },
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    background: 'white',
    data: { values },
    mark: { type: 'line', interpolate: 'step-after', strokeWidth: 2, clip: true },
    encoding: {
      x: {
        field: 'k',
        type: 'quantitative',
        title: opts.logK ? 'k: perturbed features (ℓ0), symlog scale' : 'k: perturbed features (ℓ0)',
        scale: opts.logK ? { type: 'symlog', constant: 1, domain: [0, kMax], nice: false } : { type: 'linear', domain: [0, kMax], nice: false },
        axis: opts.logK ? { values: logTicks(kMax), format: 'd' } : { format: 'd', tickMinStep: 1 },
      },
      y: { field: 'asr', type: 'quantitative', title: 'ASR (%)', scale: { domain: [0, 100] } },
      color: {
        field: 'line',
        type: 'nominal',
        title: 'attack',
        sort: labels,
        legend: { labelLimit: 320 },
        scale: { domain: labels, scheme: labels.length > 10 ? 'tableau20' : 'tableau10' },
      },
    },
    config: { font: FONT_STACK, view: { stroke: '#ccc' } },
  } as vl.TopLevelSpec;
}

/** Render a vega-lite specification to an SVG document. */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A name as a file-name part: itself when safe, else its safe characters and a hash (distinct names stay distinct). */
export function slug(name: string): string {
  if (SAFE.test(name) && name.length <= 80) return name;
  const cleaned = name.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '').slice(0, 40);
  return `${cleaned || 'x'}-${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}

/** File stem of a panel: curves-<model>, or curves-<dataset>-<model> when the model appears with several datasets. */
export function fileStem(panel: Panel, all: readonly Panel[]): string {
  const shared = all.filter((p) => p.model === panel.model).length > 1;
  return shared ? `curves-${slug(panel.dataset)}-${slug(panel.model)}` : `curves-${slug(panel.model)}`;
}
