/**
 * The sigma-sweep command line. Exit codes: 0 ok, 1 failure, 2 bad input (spec, flags, files).
 * stdout carries results (tables, ids, query rows); logs and progress go to stderr.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { createLogger, type Logger } from '../protocol/log.ts';
import { loadSpecFile, SpecError } from './spec.ts';
import { planSweep } from './planner.ts';
import { Store } from './db/store.ts';
import { renderTable, type TableFormat } from './report.ts';
import { runEmbedded } from './embedded.ts';
import { defaultSlots, type BackendRequest } from '../agent/engine/backend.ts';
import { ATTACKS } from '../agent/attacks/registry.ts';
import { connectNats, describeNats, natsSettingsFromEnv, type NatsSettings } from '../protocol/nats.ts';
import { tuningFor } from './nats/streams.ts';
import { names } from '../protocol/names.ts';
import { submitSweep } from './submit.ts';
import { orchestrate, sweepCounts } from './orchestrate.ts';
import { liveAgents } from './agents-registry.ts';
import { ProgressBar } from './progress.ts';

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

interface NatsFlags {
  nats?: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
  ns: string;
}

const natsOptions = (cmd: Command) =>
  cmd
    .addOption(new Option('--nats <url>', 'NATS server(s), comma-separated').env('NATS_URL').default('nats://127.0.0.1:4222'))
    .addOption(new Option('--nats-user <user>', 'NATS user').env('NATS_USER'))
    .addOption(new Option('--nats-password <password>', 'NATS password (prefer the environment variable)').env('NATS_PASSWORD'))
    .addOption(new Option('--nats-token <token>', 'NATS token (prefer the environment variable)').env('NATS_TOKEN'))
    .addOption(new Option('--nats-tls-ca <file>', 'CA certificate for TLS').env('NATS_TLS_CA'))
    .addOption(new Option('--nats-tls-cert <file>', 'client certificate for TLS').env('NATS_TLS_CERT'))
    .addOption(new Option('--nats-tls-key <file>', 'client key for TLS').env('NATS_TLS_KEY'))
    .addOption(new Option('--ns <name>', 'namespace of the streams, consumers and KV bucket').env('SIGMA_SWEEP_NS').default('sigma'));

function natsSettings(f: NatsFlags): NatsSettings {
  return natsSettingsFromEnv({
    servers: f.nats,
    user: f.natsUser,
    pass: f.natsPassword,
    token: f.natsToken,
    tlsCa: f.natsTlsCa,
    tlsCert: f.natsTlsCert,
    tlsKey: f.natsTlsKey,
  });
}

function positiveNumber(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag}: '${v}' is not a positive number`);
    return n;
  };
}

async function openStore(flags: StoreFlags, log: Logger): Promise<Store> {
  const store = await Store.open({ databaseUrl: flags.db, dataDir: flags.dataDir });
  log.debug('store open', { kind: store.kind, where: store.where }); // already redacted
  return store;
}

async function resolveSweepId(store: Store, requested?: string): Promise<string> {
  const all = await store.sweeps.list();
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
      .addOption(
        new Option('--slots <n>', 'tensor worker threads sharing the batches (1 = in this thread; results do not depend on it)')
          .default(defaultSlots(), 'the cores; 1 with tfjs-node-gpu')
          .argParser(positiveNumber('--slots')),
      )
      .option('--force', 'rerun tasks that already have complete results', false)
      .option('--no-progress', 'no progress bar')
      .addOption(new Option('--format <fmt>', 'table format').choices(['markdown', 'csv', 'latex']).default('markdown')),
  ).action(async (specFile: string, flags: StoreFlags & { backend: BackendRequest; slots: number; force: boolean; progress: boolean; format: string }) => {
    const spec = loadSpecFile(specFile);
    const store = await openStore(flags, log());
    try {
      const t0 = Date.now();
      const report = await runEmbedded(spec, store, { backend: flags.backend, slots: Math.floor(flags.slots), force: flags.force, log: log(), progress: flags.progress });
      log().info('sweep finished', { sweep: report.sweepId, ran: report.completed, skipped: report.skipped, failed: report.failed.length, seconds: Math.round((Date.now() - t0) / 1000) });
      out(`sweep ${report.sweepId}\n\n`);
      out(renderTable(await store.reports.summary(report.sweepId), parseFormat(flags.format)));
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
      out(renderTable(await store.reports.summary(id), parseFormat(flags.format)));
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
      const { fields, rows } = await store.reports.query(text);
      out(fields.join('\t') + '\n');
      for (const r of rows) out(fields.map((f) => (r[f] === null ? '' : String(r[f]))).join('\t') + '\n');
    } finally {
      await store.close();
    }
  });

  natsOptions(
    storeOptions(
      program
        .command('submit')
        .description('Plan a sweep, record it in the database and publish the tasks without a complete result to NATS JetStream; prints the sweep id.')
        .argument('<spec>', 'sweep spec (YAML)')
        .option('--force', 'republish every task, complete or not', false)
        .option('--wait', 'stay, ingest results until the sweep is done, then print its table', false)
        .addOption(new Option('--ack-wait <seconds>', 'seconds before an unacknowledged task is redelivered').default(60).argParser(positiveNumber('--ack-wait')))
        .addOption(new Option('--max-deliver <n>', 'deliveries before a task is declared dead').default(5).argParser(positiveNumber('--max-deliver'))),
    ),
  ).action(async (specFile: string, flags: StoreFlags & NatsFlags & { force: boolean; wait: boolean; ackWait: number; maxDeliver: number }) => {
    const spec = loadSpecFile(specFile);
    if (flags.maxDeliver <= 3) throw new UsageError('--max-deliver: must be more than 3 (the backoff steps; NATS 2.9 rule)');
    const settings = natsSettings(flags);
    const store = await openStore(flags, log());
    const nc = await connectNats(settings);
    try {
      const n = names(flags.ns);
      const r = await submitSweep(spec, store, nc, n, { force: flags.force, tuning: tuningFor(flags.ackWait * 1000, flags.maxDeliver) });
      log().info('sweep submitted', { sweep: r.sweepId, planned: r.planned, published: r.published, alreadyComplete: r.complete, nats: describeNats(settings) });
      out(`${r.sweepId}\n`);
      if (flags.wait) {
        const bar = new ProgressBar(r.planned, 'tasks');
        await orchestrate(nc, n, store, { sweepId: r.sweepId, untilDone: true, log: log(), onPoll: (s) => bar.update(s.done + s.dead, s.dead ? `(${s.dead} dead)` : '') });
        bar.finish();
        out(renderTable(await store.reports.summary(r.sweepId)));
      }
    } finally {
      await nc.drain().catch(() => {});
      await store.close();
    }
  });

  natsOptions(
    program
      .command('agent')
      .description('Run a worker: pull tasks from NATS JetStream, run the attacks on this machine, publish the results. SIGTERM drains.')
      .addOption(new Option('--slots <n>', 'tensor worker threads (one wasm/tfjs instance each); tasks and their batches share them').default(defaultSlots(), 'the cores; 1 with tfjs-node-gpu').argParser(positiveNumber('--slots')))
      .addOption(new Option('--backend <name>', 'tensor backend').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'))
      .option('--id <id>', 'agent id in the registry (default: host-pid)')
      .addOption(new Option('--drain-timeout <seconds>', 'on SIGTERM, how long to let running tasks finish before handing them back').default(30).argParser(positiveNumber('--drain-timeout'))),
  ).action(async (flags: NatsFlags & { slots: number; backend: string; id?: string; drainTimeout: number }) => {
    const { runAgent } = await import('./worker/agent.ts');
    await runAgent({ nats: natsSettings(flags), ns: flags.ns, slots: Math.floor(flags.slots), backend: flags.backend, id: flags.id, log: log(), drainTimeoutMs: flags.drainTimeout * 1000 });
  });

  natsOptions(
    storeOptions(
      program
        .command('orchestrate')
        .description('Ingest results into the database, record dead tasks and re-publish stragglers (runs until stopped, or until --sweep is done with --until-done).')
        .option('--sweep <id>', 'sweep to watch for progress and stragglers')
        .option('--until-done', 'exit once the sweep has no task left to run', false),
    ),
  ).action(async (flags: StoreFlags & NatsFlags & { sweep?: string; untilDone: boolean }) => {
    const store = await openStore(flags, log());
    const nc = await connectNats(natsSettings(flags));
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    try {
      const sweepId = flags.sweep ? await resolveSweepId(store, flags.sweep) : undefined;
      const stats = await orchestrate(nc, names(flags.ns), store, { sweepId, untilDone: flags.untilDone, log: log(), signal: ac.signal });
      log().info('orchestrator stopped', { ...stats });
    } finally {
      await nc.drain().catch(() => {});
      await store.close();
    }
  });

  natsOptions(
    storeOptions(
      program
        .command('status')
        .description('Show a sweep\'s progress: tasks by state, ETA, live agents, dead tasks with reasons, GPU-seconds so far.')
        .option('--sweep <id>', 'sweep id or name (default: the latest sweep)')
        .option('--no-agents', 'do not contact NATS for the agent registry'),
    ),
  ).action(async (flags: StoreFlags & NatsFlags & { sweep?: string; agents: boolean }) => {
    const store = await openStore(flags, log());
    try {
      const id = await resolveSweepId(store, flags.sweep);
      const c = await sweepCounts(store, id);
      const frac = c.total ? c.done / c.total : 0;
      const secs = c.counts.reduce((a, x) => a + x.seconds, 0);
      const elapsed = c.started && c.lastFinished ? (Date.parse(c.lastFinished) - Date.parse(c.started)) / 1000 : 0;
      const eta = frac > 0 && frac < 1 && elapsed > 0 ? (elapsed / frac) * (1 - frac) : null;
      const width = 30;
      out(`sweep ${id}\n`);
      out(`[${'#'.repeat(Math.round(frac * width))}${'.'.repeat(width - Math.round(frac * width))}] ${c.done}/${c.total} tasks done (${(100 * frac).toFixed(1)}%)${eta != null ? `, ETA ~${Math.round(eta)}s` : ''}\n`);
      out(`by state: ${c.counts.map((x) => `${x.status} ${x.n}`).join(', ') || 'none'}\n`);
      out(`device-seconds so far: ${secs.toFixed(1)}\n`);
      if (flags.agents) {
        // best effort: an embedded sweep has no NATS, and status must still work
        const nc = await connectNats(natsSettings(flags)).catch((e: Error) => {
          out(`live agents: unknown (NATS unreachable: ${e.message})\n`);
          return null;
        });
        if (nc) {
          try {
            const agents = await liveAgents(nc, names(flags.ns));
            out(`live agents: ${agents.length}\n`);
            for (const a of agents) out(`  ${a.id} ${a.host} ${a.backend} ${a.device} slots=${a.slots} running=${a.tasks.map((t) => t.key.slice(0, 8)).join(',') || '-'}\n`);
          } finally {
            await nc.close();
          }
        }
      }
      if (c.dead.length) {
        out(`dead tasks: ${c.dead.length}\n`);
        for (const d of c.dead) out(`  ${d.taskKey} ${d.reason}\n`);
      }
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
    const err = e as Error & { cause?: unknown };
    const cause = err.cause instanceof Error && !err.message.includes(err.cause.message) ? `: ${err.cause.message}` : '';
    log.error(err.message.replace(/\nparams:.*$/s, '') + cause);
    if (process.env.SIGMA_SWEEP_DEBUG) process.stderr.write(String((e as Error).stack) + '\n');
    return 1;
  }
}
