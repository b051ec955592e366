/**
 * The sigma-sweep command line. Exit codes: 0 ok, 1 failure, 2 bad input (spec, flags, files).
 * stdout carries results (tables, ids, query rows); logs and progress go to stderr.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { createLogger, type Logger } from './log.ts';
import { loadSpecFile, SpecError } from './spec.ts';
import { planSweep } from './planner.ts';
import { Store, redactUrl } from './store.ts';
import { renderTable, type TableFormat } from './report.ts';
import { runEmbedded } from './embedded.ts';
import type { BackendRequest } from '../agent/engine/backend.ts';
import { ATTACKS } from '../agent/attacks/registry.ts';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

interface StoreFlags {
  db?: string;
  dataDir: string;
}

const storeOptions = (cmd: Command) =>
  cmd
    .addOption(new Option('--db <url>', 'PostgreSQL URL (default: $DATABASE_URL; without one, embedded PGlite)').env('DATABASE_URL'))
    .addOption(new Option('--data-dir <dir>', 'folder for the embedded database (PGlite)').env('SIGMA_SWEEP_DATA').default('.sigma-sweep'));

async function openStore(flags: StoreFlags, log: Logger): Promise<Store> {
  const store = await Store.open({ databaseUrl: flags.db, dataDir: flags.dataDir });
  log.debug('store open', { kind: store.kind, where: store.kind === 'postgres' ? redactUrl(flags.db!) : store.where });
  return store;
}

async function resolveSweepId(store: Store, requested?: string): Promise<string> {
  const all = await store.sweepIds();
  if (requested) {
    const hit = all.find((s) => s.id === requested) ?? all.filter((s) => s.name === requested).at(-1);
    if (!hit) throw new UsageError(`--sweep: no sweep '${requested}' in this database (have: ${all.map((s) => s.id).join(', ') || 'none'})`);
    return hit.id;
  }
  const last = all.at(-1);
  if (!last) throw new UsageError('no sweeps in this database yet: run `sigma-sweep run <spec>` first');
  return last.id;
}

function parseFormat(v: string): TableFormat {
  if (v === 'markdown' || v === 'csv' || v === 'latex') return v;
  throw new UsageError(`--format: '${v}' is not one of markdown, csv, latex`);
}

export function buildProgram(out: (s: string) => void, log: () => Logger): Command {
  const program = new Command('sigma-sweep')
    .description('Benchmark sparse (ℓ0) adversarial attacks: sweep specs → attack runs → PostgreSQL → paper-style tables.')
    .addOption(new Option('--log-format <fmt>', 'log format on stderr').choices(['text', 'json']).default('text'))
    .showHelpAfterError()
    .exitOverride();

  storeOptions(
    program
      .command('run')
      .description('Run a sweep on this machine (in-process queue, embedded database by default) and print its table.')
      .argument('<spec>', 'sweep spec (YAML), e.g. examples/mnist-smoke.yaml')
      .addOption(new Option('--backend <name>', 'tensor backend').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'))
      .option('--force', 'rerun tasks that already have complete results', false)
      .option('--no-progress', 'no progress bar')
      .addOption(new Option('--format <fmt>', 'table format').choices(['markdown', 'csv', 'latex']).default('markdown')),
  ).action(async (specFile: string, flags: StoreFlags & { backend: BackendRequest; force: boolean; progress: boolean; format: string }) => {
    const spec = loadSpecFile(specFile);
    const store = await openStore(flags, log());
    try {
      const t0 = Date.now();
      const report = await runEmbedded(spec, store, { backend: flags.backend, force: flags.force, log: log(), progress: flags.progress });
      log().info('sweep finished', { sweep: report.sweepId, ran: report.completed, skipped: report.skipped, failed: report.failed.length, seconds: Math.round((Date.now() - t0) / 1000) });
      out(`sweep ${report.sweepId}\n\n`);
      out(renderTable(await store.summary(report.sweepId), parseFormat(flags.format)));
      if (report.failed.length) {
        for (const f of report.failed) log().error('task failed for good', { task: f.key, error: f.error });
        throw new Error(`${report.failed.length} task(s) failed; rerun the same command to retry them`);
      }
    } finally {
      await store.close();
    }
  });

  storeOptions(
    program
      .command('table')
      .description('Print the paper-style table of a stored sweep (computed by SQL from the per-sample rows).')
      .option('--sweep <id>', 'sweep id or name (default: the latest sweep)')
      .addOption(new Option('--format <fmt>', 'table format').choices(['markdown', 'csv', 'latex']).default('markdown')),
  ).action(async (flags: StoreFlags & { sweep?: string; format: string }) => {
    const store = await openStore(flags, log());
    try {
      const id = await resolveSweepId(store, flags.sweep);
      out(`sweep ${id}\n\n`);
      out(renderTable(await store.summary(id), parseFormat(flags.format)));
    } finally {
      await store.close();
    }
  });

  program
    .command('plan')
    .description('Validate a sweep spec and list the tasks it expands to (nothing is written).')
    .argument('<spec>', 'sweep spec (YAML)')
    .option('--json', 'print the tasks as JSON lines', false)
    .action(async (specFile: string, flags: { json: boolean }) => {
      const spec = loadSpecFile(specFile);
      const { sweepId, tasks } = planSweep(spec);
      if (flags.json) for (const t of tasks) out(JSON.stringify(t) + '\n');
      else {
        out(`sweep ${sweepId}: ${tasks.length} task(s), ${tasks.reduce((a, t) => a + t.sampleIndices.length, 0)} attack runs\n`);
        for (const t of tasks) {
          out(`  ${t.key}  ${t.dataset.name}/${t.dataset.split}[${t.sampleIndices[0]}..${t.sampleIndices.at(-1)}] ${t.model.name} ${t.attack.label} steps=${t.steps}\n`);
        }
      }
    });

  storeOptions(
    program
      .command('sql')
      .description('Run a SQL query against the results database (views: sample_l0, attack_summary).')
      .argument('<query>', 'SQL text, or @file.sql'),
  ).action(async (query: string, flags: StoreFlags) => {
    const text = query.startsWith('@') ? readFileSync(query.slice(1), 'utf8') : query;
    const store = await openStore(flags, log());
    try {
      const { fields, rows } = await store.query(text);
      out(fields.join('\t') + '\n');
      for (const r of rows) out(fields.map((f) => (r[f] === null ? '' : String(r[f]))).join('\t') + '\n');
    } finally {
      await store.close();
    }
  });

  program
    .command('attacks')
    .description('List the attacks a sweep spec can name.')
    .action(() => {
      for (const a of ATTACKS.values()) out(`${a.name.padEnd(14)} ${a.description}\n`);
    });

  return program;
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  let logger: Logger | null = null;
  const program = buildProgram(out, () => (logger ??= createLogger({ format: program.opts().logFormat })));
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    const log = logger ?? createLogger({ format: program.opts().logFormat });
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return 0;
      return 2; // commander already printed the problem and the usage
    }
    if (e instanceof SpecError) {
      process.stderr.write(e.message + '\n');
      return 2;
    }
    if (e instanceof UsageError) {
      log.error(e.message);
      return 2;
    }
    log.error((e as Error).message);
    if (process.env.SIGMA_SWEEP_DEBUG) process.stderr.write(String((e as Error).stack) + '\n');
    return 1;
  }
}
