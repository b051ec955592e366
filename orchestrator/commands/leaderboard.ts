/**
 * `sigma-sweep leaderboard --name NAME --out DIR`: render the static site of a leaderboard (the
 * sweeps whose spec says `leaderboard: NAME`, one per night) from the database: index.html with the
 * attacks of the latest night ranked per model, the curves, and each attack's history over the
 * nights. Prints the paths written; `sigma-sweep serve DIR` shows it in a browser.
 */
import type { Command } from 'commander';
import { buildSite } from '../leaderboard/site.ts';
import { METRIC_FORMS, parseMetric } from '../leaderboard/board.ts';
import { nonEmpty, READ_ONLY, storeOptions, UsageError, withStore, type CommandContext, type StoreFlags } from './options.ts';

type LeaderboardFlags = StoreFlags & { name: string; out: string; metric: string; k: string; logK?: boolean };

/** --k: a comma-separated list of whole numbers ≥ 0 (the ASR budgets shown as columns). */
export function parseKs(v: string): number[] {
  const items = v.split(',').map((x) => x.trim());
  if (!items.length || items.some((x) => !/^\d{1,7}$/.test(x))) throw new UsageError(`--k: '${v}' is not a comma-separated list of whole numbers ≥ 0`);
  return [...new Set(items.map(Number))].sort((a, b) => a - b);
}

export function leaderboardCommand(program: Command, { out, log }: CommandContext): void {
  storeOptions(
    program
      .command('leaderboard')
      .description('Render the static site of a nightly leaderboard (index.html + curves SVG) from the database; prints the paths.')
      .requiredOption('--name <name>', 'the leaderboard (a spec joins it with `leaderboard: <name>`)', nonEmpty('--name'))
      .requiredOption('--out <dir>', 'output folder (created when missing)', nonEmpty('--out'))
      .option('--metric <metric>', `ranking metric: ${METRIC_FORMS}`, 'optimality')
      .option('--k <list>', 'ASR budgets shown as columns (comma-separated)', '10,50')
      .option('--log-k', 'symlog k axis on the curves'),
  ).action(async (flags: LeaderboardFlags) => {
    const metric = parseMetric(flags.metric);
    const ks = parseKs(flags.k);
    const { paths } = await withStore(flags, log(), (store) => buildSite(store, { name: flags.name, out: flags.out, metric, ks, logK: flags.logK }), READ_ONLY);
    for (const p of paths) out(`${p}\n`);
  });
}
