/**
 * SVG → PNG with resvg (@resvg/resvg-js). resvg draws text only with a font it has loaded, and a
 * plot without its labels is worse than none, so the font is chosen here: the first of the fonts the
 * SVG asks for (chart.ts FONT_STACK) found in the usual font folders is loaded by file (fast, and the
 * same picture on every machine with that font: Debian's fonts-dejavu-core or fonts-liberation).
 * Without any of them resvg loads the system's fonts and falls back to its own family choice.
 */
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';

/** Font files per family, regular and bold (titles and axis titles are bold). */
const FAMILIES: Array<{ family: string; files: string[] }> = [
  { family: 'DejaVu Sans', files: ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'] },
  { family: 'Liberation Sans', files: ['LiberationSans-Regular.ttf', 'LiberationSans-Bold.ttf'] },
];

const FONT_DIRS = ['/usr/share/fonts', '/usr/local/share/fonts', path.join(os.homedir(), '.fonts'), path.join(os.homedir(), '.local/share/fonts'), '/Library/Fonts', '/System/Library/Fonts'];

/** Font files below `dir` (three folder levels deep is where distributions put them). */
function fontFiles(dir: string, depth = 3): Map<string, string> {
  const found = new Map<string, string>();
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && depth > 0) for (const [k, v] of fontFiles(p, depth - 1)) if (!found.has(k)) found.set(k, v);
    if (e.isFile() && /\.(ttf|otf)$/i.test(e.name) && !found.has(e.name)) found.set(e.name, p);
  }
  return found;
}

export interface FontChoice {
  family: string | null;
  files: string[];
}

let cached: FontChoice | null = null;

/** The family the PNGs are drawn with and its files; family null when none of FAMILIES is installed. */
export function chooseFont(dirs: readonly string[] = FONT_DIRS): FontChoice {
  if (cached && dirs === FONT_DIRS) return cached;
  const all = new Map<string, string>();
  for (const d of dirs) if (existsSync(d)) for (const [k, v] of fontFiles(d)) if (!all.has(k)) all.set(k, v);
  let choice: FontChoice = { family: null, files: [] };
  for (const f of FAMILIES) {
    const files = f.files.flatMap((name) => all.get(name) ?? []);
    if (all.has(f.files[0])) {
      choice = { family: f.family, files };
      break;
    }
  }
  if (dirs === FONT_DIRS) cached = choice;
  return choice;
}

/** How much larger than the SVG's own size the PNG is drawn (sharp on high-density screens and in papers). */
export const PNG_SCALE = 2;

/** Rasterise an SVG document to PNG bytes, `scale` times its width and height. */
export function svgToPng(svg: string, scale = PNG_SCALE): Buffer {
  const font = chooseFont();
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: font.family
      ? { loadSystemFonts: false, fontFiles: font.files, defaultFontFamily: font.family, sansSerifFamily: font.family }
      : { loadSystemFonts: true },
  });
  return resvg.render().asPng();
}
