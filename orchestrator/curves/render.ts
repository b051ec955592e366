/** A sweep's robustness curves as files: one SVG and/or PNG per dataset × model panel (chart.ts, png.ts). */
import { curveSpec, fileStem, panelsOf, renderSvg, type ChartOptions, type Panel } from './chart.ts';
import type { CurveSeries } from './data.ts';
import type { OutFile } from './files.ts';
import { svgToPng } from './png.ts';

export const CURVE_FORMATS = ['svg', 'png'] as const;
export type CurveFormat = (typeof CURVE_FORMATS)[number];

export interface RenderedPanel {
  panel: Panel;
  /** file name without extension: curves-<model> (chart.ts fileStem) */
  stem: string;
  svg: string;
}

/** Every panel of `series` rendered to SVG. */
export async function renderPanels(series: readonly CurveSeries[], opts: ChartOptions = {}): Promise<RenderedPanel[]> {
  const panels = panelsOf(series);
  const out: RenderedPanel[] = [];
  for (const panel of panels) out.push({ panel, stem: fileStem(panel, panels), svg: await renderSvg(curveSpec(panel, opts)) });
  return out;
}

/** The files of rendered panels in the given formats, panel by panel (svg before png). */
export function curveFiles(rendered: readonly RenderedPanel[], formats: readonly CurveFormat[]): OutFile[] {
  return rendered.flatMap((r) => [
    ...(formats.includes('svg') ? [{ name: `${r.stem}.svg`, data: r.svg }] : []),
    ...(formats.includes('png') ? [{ name: `${r.stem}.png`, data: svgToPng(r.svg) }] : []),
  ]);
}
