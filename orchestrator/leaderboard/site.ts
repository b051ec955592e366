/**
 * `sigma-sweep leaderboard`: the static site of a leaderboard, from the database: index.html
 * (html.ts) and the latest night's robustness curves as SVG next to it (curves/), written only
 * once everything has been rendered (curves/files.ts).
 */
import { BadInputError } from '../../schema/errors.ts';
import type { Store } from '../db/store.ts';
import { readCurves } from '../curves/data.ts';
import { writeFiles, type OutFile } from '../curves/files.ts';
import { renderPanels } from '../curves/render.ts';
import { buildBoard, type Board, type Metric } from './board.ts';
import { readEntries, readNights } from './data.ts';
import { renderPage, type CurveImage } from './html.ts';

export interface SiteOptions {
  name: string;
  out: string;
  metric: Metric;
  /** ASR budgets shown as columns (the metric's k is added) */
  ks: readonly number[];
  /** symlog k axis on the curves */
  logK?: boolean;
  /** the page's "generated at" (tests fix it) */
  now?: Date;
}

/** The width and height an SVG document declares. */
function svgSize(svg: string): { width: number; height: number } {
  const head = /<svg[^>]*>/.exec(svg)?.[0] ?? '';
  return { width: Number(/\swidth="([\d.]+)"/.exec(head)?.[1] ?? 0), height: Number(/\sheight="([\d.]+)"/.exec(head)?.[1] ?? 0) };
}

/** Read, rank, render and write the site; returns the board and the paths written (index.html first). */
export async function buildSite(store: Store, opts: SiteOptions): Promise<{ board: Board; paths: string[] }> {
  const ks = [...new Set([...opts.ks, ...(opts.metric.kind === 'asr' ? [opts.metric.k] : [])])].sort((a, b) => a - b);
  const entries = await readEntries(store, opts.name, ks);
  // a night without any result yet (submitted, still running) is not a night to rank or compare with
  const nights = (await readNights(store, opts.name)).filter((n) => entries.some((e) => e.nightIndex === n.index));
  if (!nights.length) throw new BadInputError(`leaderboard '${opts.name}' has no results yet`);
  const board = buildBoard(opts.name, nights, entries, opts.metric, ks);
  const panels = await renderPanels(await readCurves(store, board.latest.sweepId), { logK: opts.logK, sweepId: board.latest.sweepId });
  const images: CurveImage[] = panels.map((p) => ({ dataset: p.panel.dataset, model: p.panel.model, file: `${p.stem}.svg`, ...svgSize(p.svg) }));
  const files: OutFile[] = [
    { name: 'index.html', data: renderPage(board, images, (opts.now ?? new Date()).toISOString()) },
    ...panels.map((p) => ({ name: `${p.stem}.svg`, data: p.svg })),
  ];
  return { board, paths: writeFiles(opts.out, files) };
}
