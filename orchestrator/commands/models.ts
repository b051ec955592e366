/**
 * `sigma-sweep models`: the zoo (built-in models with their digests, input contract, accuracies and
 * provenance), and `models verify` to check a zoo model or a user's model file before a sweep.
 */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { selectBackend, type BackendRequest } from '../../agent/engine/backend.ts';
import { DATASETS } from '../../agent/data/registry.ts';
import { detectModelFormat } from '../../agent/models/formats.ts';
import { verifyModel, type VerifyInput } from '../../agent/models/verify.ts';
import { zooManifest, zooModel } from '../../agent/models/zoo.ts';
import { renderRows } from '../sql-format.ts';
import { positiveInteger, UsageError, type CommandContext } from './options.ts';

const pct = (v: number) => (100 * v).toFixed(2);
/** PostgreSQL type ids, for the shared table renderer's alignment */
const TEXT_OID = 25;
const FLOAT8_OID = 701;

export function modelsCommand(program: Command, { out, log }: CommandContext): void {
  const models = program
    .command('models')
    .description('List the model zoo (name, format, dataset, input, accuracies, sha256, source); `models verify` checks a model before a sweep.')
    .addOption(new Option('--format <fmt>', 'output format').choices(['table', 'json']).default('table'))
    .action((flags: { format: string }) => {
      const zoo = zooManifest();
      if (flags.format === 'json') {
        out(JSON.stringify(zoo, null, 2) + '\n');
        return;
      }
      const heads = ['name', 'format', 'dataset', 'input (H×W×C)', 'range', 'clean %', 'robust %', 'sha256', 'description'];
      const numeric = new Set(['clean %', 'robust %']);
      const fields = heads.map((name) => ({ name, typeId: numeric.has(name) ? FLOAT8_OID : TEXT_OID }));
      const rows = Object.entries(zoo).map(([name, e]) => [
        name,
        e.format,
        e.dataset,
        e.inputShape.join('×'),
        `[${e.inputRange.join(', ')}]`,
        pct(e.cleanAccuracy),
        e.robustAccuracy === undefined ? '—' : pct(e.robustAccuracy),
        e.sha256.slice(0, 12),
        e.description,
      ]);
      out(renderRows('table', fields, rows));
    });

  models
    .command('verify')
    .description(
      'Check a model: its sha256, its input/output contract against a dataset, and its clean accuracy on the first test samples ' +
        '(compared with the recorded accuracy for zoo models). MODEL is a zoo name, an .onnx file or a LayersModel folder. Exit 0 when every check passes, 1 when one fails, 2 for bad input.',
    )
    .argument('<model>', 'zoo name, model.onnx or a LayersModel folder')
    .option('--dataset <name>', 'dataset to check against (default: the zoo entry\'s)')
    .option('--sha256 <hex>', 'the digest the file must have (default: the zoo entry\'s; none for a path: printed)')
    .option('--samples <n>', 'test samples for the accuracy check', positiveInteger('--samples'), 500)
    .addOption(new Option('--backend <name>', 'tensor backend').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'))
    .action(async (model: string, flags: { dataset?: string; sha256?: string; samples: number; backend: BackendRequest }) => {
      const input = verifyInputOf(model, flags);
      await selectBackend(flags.backend);
      log().info('verifying model', { model: input.name, location: input.location, format: input.format, dataset: input.dataset });
      const checks = await verifyModel(input);
      for (const c of checks) out(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(8)} ${c.detail}\n`);
      const failed = checks.filter((c) => !c.ok).map((c) => c.name);
      if (failed.length) throw new Error(`${input.name}: verification failed (${failed.join(', ')})`);
    });
}

function verifyInputOf(model: string, flags: { dataset?: string; sha256?: string; samples: number }): VerifyInput {
  if (flags.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(flags.sha256)) throw new UsageError(`--sha256: expected 64 lowercase hex digits, got '${flags.sha256}'`);
  if (flags.dataset !== undefined && !DATASETS.has(flags.dataset)) throw new UsageError(`--dataset: unknown dataset '${flags.dataset}' (known: ${[...DATASETS.keys()].join(', ')})`);
  const z = zooModel(model);
  if (z) {
    return { name: model, location: z.dir, format: z.format, expectedSha256: flags.sha256 ?? z.sha256, dataset: flags.dataset ?? z.dataset, samples: flags.samples, recordedAccuracy: flags.dataset && flags.dataset !== z.dataset ? undefined : z.cleanAccuracy };
  }
  const location = path.resolve(model);
  const found = detectModelFormat(location);
  if ('problem' in found) throw new UsageError(`${model}: not a zoo model (known: ${Object.keys(zooManifest()).join(', ')}), and ${found.problem}`);
  if (!flags.dataset) throw new UsageError(`--dataset is required for a model given by path (known: ${[...DATASETS.keys()].join(', ')})`);
  return { name: path.basename(location), location, format: found.format, expectedSha256: flags.sha256, dataset: flags.dataset, samples: flags.samples };
}
