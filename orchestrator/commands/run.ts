/**
 * `sigma-sweep run <spec>`: run a sweep on this machine (in-process queue, embedded database by
 * default) and print its table.
 */
import { Option, type Command } from 'commander';
import { defaultSlots, type BackendRequest } from '../../agent/engine/backend.ts';
import { runEmbedded } from '../embedded.ts';
import type { EngineRequest } from '../../agent/engine/ort/request.ts';
import { applyEngine, engineOption } from './engine-option.ts';
import { sweepTable, tableHeading } from '../report.ts';
import { loadSpecFile } from '../spec.ts';
import { parseFormat, tableFormatOption, positiveInteger, storeOptions, withStore, type CommandContext, type StoreFlags } from './options.ts';

/** A task `run` gave up on; `permanent` when retrying cannot help (schema/errors.ts isPermanent). */
export interface FailedTask {
  key: string;
  error: string;
  permanent?: boolean;
}

/**
 * What to tell the user about the tasks that failed: permanent failures (with their reasons) will
 * fail again on a rerun; the others gave up after repeated transient errors and may pass next time.
 */
export function failureMessage(failed: FailedTask[]): string {
  const permanent = failed.filter((f) => f.permanent === true);
  const transient = failed.filter((f) => f.permanent !== true);
  const parts: string[] = [];
  if (permanent.length) {
    const reasons = [...new Set(permanent.map((f) => f.error))];
    const shown = reasons.slice(0, 3).join('; ') + (reasons.length > 3 ? `; and ${reasons.length - 3} more` : '');
    parts.push(`${permanent.length} task(s) failed permanently (${shown}): rerunning will not help until that is fixed`);
  }
  if (transient.length) parts.push(`${transient.length} task(s) failed on errors that may be transient; rerun the same command to retry them`);
  return parts.join('; ');
}

type RunFlags = StoreFlags & { backend: BackendRequest; engine: EngineRequest; slots: number; force: boolean; progress: boolean; format: string };

export function runCommand(program: Command, { out, log }: CommandContext): void {
  storeOptions(
    program
      .command('run')
      .description('Run a sweep on this machine (in-process queue, embedded database by default) and print its table.')
      .argument('<spec>', 'sweep spec (YAML), e.g. examples/mnist-smoke.yaml')
      .addOption(new Option('--backend <name>', 'tensor backend').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'))
      .addOption(engineOption())
      .addOption(
        new Option('--slots <n>', 'tensor worker threads sharing the batches (1 = in this thread; results do not depend on it)')
          .default(defaultSlots(), 'the cores; 1 with tfjs-node-gpu')
          .argParser(positiveInteger('--slots')),
      )
      .option('--force', 'rerun tasks that already have complete results', false)
      .option('--no-progress', 'no progress bar')
      .addOption(tableFormatOption()),
  ).action(async (specFile: string, flags: RunFlags) => {
    const spec = loadSpecFile(specFile);
    await applyEngine(flags.engine, flags.slots);
    await withStore(flags, log(), async (store) => {
      const t0 = Date.now();
      const options = { backend: flags.backend, slots: flags.slots, force: flags.force, log: log(), progress: flags.progress };
      const report = await runEmbedded(spec, store, options);
      log().info('sweep finished', {
        sweep: report.sweepId,
        ran: report.completed,
        skipped: report.skipped,
        failed: report.failed.length,
        seconds: Math.round((Date.now() - t0) / 1000),
      });
      const format = parseFormat(flags.format);
      out(tableHeading([report.sweepId], format)); // csv and json: the data alone
      out(await sweepTable(store, [report.sweepId], format));
      if (report.failed.length) {
        for (const f of report.failed) log().error('task failed for good', { task: f.key, error: f.error, permanent: f.permanent });
        throw new Error(failureMessage(report.failed));
      }
    });
  });
}
