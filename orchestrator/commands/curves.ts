/**
 * `sigma-sweep curves`: robustness curves of a stored sweep (ASR against the ℓ0 budget k, one file
 * per model, one line per attack) as SVG and PNG, from the robustness_curve view. Prints the paths
 * of the files it wrote, one per line.
 */
import { Option, type Command } from 'commander';
import { readCurves } from '../curves/data.ts';
import { writeFiles } from '../curves/files.ts';
import { chooseFont } from '../curves/png.ts';
import { CURVE_FORMATS, curveFiles, renderPanels, type CurveFormat } from '../curves/render.ts';
import { nonEmpty, positiveInteger, READ_ONLY, resolveSweepId, storeOptions, UsageError, withStore, type CommandContext, type StoreFlags } from './options.ts';

type CurvesFlags = StoreFlags & {
  sweep?: string;
  out: string;
  format: string;
  logK?: boolean;
  kMax?: number;
  models?: string[];
  attacks?: string[];
  steps?: number;
};

/** A comma-separated flag that may also repeat: `--models a,b --models c` → [a, b, c]. */
export function listArg(flag: string) {
  return (v: string, prev: string[] = []) => {
    const items = v.split(',').map((x) => x.trim());
    if (items.some((x) => !x)) throw new UsageError(`${flag}: empty name in '${v}'`);
    return [...prev, ...items];
  };
}

export function parseCurveFormats(v: string): CurveFormat[] {
  const items = [...new Set(v.split(',').map((x) => x.trim()))];
  const bad = items.filter((x) => !(CURVE_FORMATS as readonly string[]).includes(x));
  if (!items.length || bad.length) throw new UsageError(`--format: '${v}' is not a list of ${CURVE_FORMATS.join(', ')}`);
  return items as CurveFormat[];
}

export function curvesCommand(program: Command, { out, log }: CommandContext): void {
  storeOptions(
    program
      .command('curves')
      .description('Write robustness curves (ASR vs ℓ0 budget k; one file per model, one line per attack) of a stored sweep as SVG/PNG; prints the paths.')
      .option('--sweep <id>', 'sweep id or name (default: the latest sweep)', nonEmpty('--sweep'))
      .option('--out <dir>', 'output folder (created when missing)', nonEmpty('--out'), '.')
      .addOption(new Option('--format <list>', 'comma-separated: svg, png').default('svg,png'))
      .option('--log-k', 'symlog k axis (log(1 + k): k = 0 stays on the plot)')
      .option('--k-max <n>', 'right edge of the k axis (default: the largest finite ℓ0 of the model)', positiveInteger('--k-max'))
      .option('--models <names>', 'only these models (comma-separated, repeatable)', listArg('--models'))
      .option('--attacks <labels>', 'only these attack labels (comma-separated, repeatable)', listArg('--attacks'))
      .option('--steps <n>', 'only this step budget', positiveInteger('--steps')),
  ).action(async (flags: CurvesFlags) => {
    const formats = parseCurveFormats(flags.format);
    const { id, series } = await withStore(
      flags,
      log(),
      async (store) => {
        const id = await resolveSweepId(store, flags.sweep);
        return { id, series: await readCurves(store, id, { models: flags.models, attacks: flags.attacks, steps: flags.steps }) };
      },
      READ_ONLY, // reading: never creates a database
    );
    if (formats.includes('png') && !chooseFont().family)
      log().warn('no DejaVu Sans or Liberation Sans font found: the PNG text uses whichever system font resvg picks (Debian: apt-get install fonts-dejavu-core)');
    const rendered = await renderPanels(series, { logK: flags.logK, kMax: flags.kMax, sweepId: id });
    for (const p of writeFiles(flags.out, curveFiles(rendered, formats))) out(`${p}\n`);
  });
}
