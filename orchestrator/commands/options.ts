/**
 * What the commands share: the database and NATS flag sets, argument parsers, UsageError (exit 2),
 * the context every command gets (stdout writer, lazy logger) and the open/close helpers for the
 * Store and the NATS connection.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../protocol/log.ts';
import { connectNats, natsSettingsFromEnv, type NatsSettings } from '../../protocol/nats.ts';
import { names } from '../../protocol/names.ts';
import { Store, type OpenOptions } from '../db/store.ts';
import { TABLE_FORMATS, type TableFormat } from '../report.ts';

/** Bad input from the command line (flags, names): exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** What every command gets: stdout for results, and the logger (created on first use). */
export interface CommandContext {
  out: (s: string) => void;
  log: () => Logger;
}

export interface StoreFlags {
  db?: string;
  dataDir: string;
}

export const storeOptions = (cmd: Command) =>
  cmd
    .addOption(new Option('--db <url>', 'PostgreSQL URL (default: $DATABASE_URL; without one, embedded PGlite)').env('DATABASE_URL'))
    .addOption(new Option('--data-dir <dir>', 'folder for the embedded database (PGlite)').env('SIGMA_SWEEP_DATA').default('.sigma-sweep').argParser(dataDirArg));

export interface NatsFlags {
  nats?: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
  ns: string;
}

export const natsOptions = (cmd: Command) =>
  cmd
    .addOption(new Option('--nats <url>', 'NATS server(s), comma-separated').env('NATS_URL').default('nats://127.0.0.1:4222'))
    .addOption(new Option('--nats-user <user>', 'NATS user').env('NATS_USER'))
    .addOption(new Option('--nats-password <password>', 'NATS password (prefer the environment variable)').env('NATS_PASSWORD'))
    .addOption(new Option('--nats-token <token>', 'NATS token (prefer the environment variable)').env('NATS_TOKEN'))
    .addOption(new Option('--nats-tls-ca <file>', 'CA certificate for TLS').env('NATS_TLS_CA'))
    .addOption(new Option('--nats-tls-cert <file>', 'client certificate for TLS').env('NATS_TLS_CERT'))
    .addOption(new Option('--nats-tls-key <file>', 'client key for TLS').env('NATS_TLS_KEY'))
    .addOption(new Option('--ns <name>', 'namespace of the streams, consumers and KV bucket').env('SIGMA_SWEEP_NS').default('sigma').argParser(namespaceArg));

export function natsSettings(f: NatsFlags): NatsSettings {
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

/**
 * --data-dir (or $SIGMA_SWEEP_DATA): must be a folder or not exist yet, and so must its `pglite`
 * sub-folder; checked before anything opens or creates the database.
 */
export function dataDirArg(v: string): string {
  if (!v.trim()) throw new UsageError('--data-dir: empty path');
  for (const p of [v, path.join(v, 'pglite')]) {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return v; // created on first use
      throw new UsageError(`--data-dir: cannot use '${p}': ${code ?? (e as Error).message}`);
    }
    if (!st.isDirectory()) throw new UsageError(`--data-dir: '${p}' exists and is not a folder`);
  }
  return v;
}

/** --ns (or $SIGMA_SWEEP_NS): the rule of protocol/names.ts, as a usage error naming the flag. */
export function namespaceArg(v: string): string {
  try {
    names(v);
  } catch (e) {
    throw new UsageError(`--ns: ${(e as Error).message}`);
  }
  return v;
}

/** Argument parser for a flag that must not be empty (an empty --sweep must not mean "the latest"). */
export function nonEmpty(flag: string) {
  return (v: string) => {
    if (!v.trim()) throw new UsageError(`${flag}: empty value`);
    return v;
  };
}

/** Argument parser for a flag that takes a whole number ≥ 1 (counts: --slots, --max-deliver). */
export function positiveInteger(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (!/^\s*\+?\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag}: '${v}' is not a whole number ≥ 1`);
    return n;
  };
}

/** Argument parser for a flag that takes a number > 0 (durations in seconds). */
export function positiveNumber(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag}: '${v}' is not a positive number`);
    return n;
  };
}

export function parseFormat(v: string): TableFormat {
  if ((TABLE_FORMATS as readonly string[]).includes(v)) return v as TableFormat;
  throw new UsageError(`--format: '${v}' is not one of ${TABLE_FORMATS.join(', ')}`);
}

/** The `--format` flag of the commands that print the paper table (run, table, submit --wait). */
export const tableFormatOption = (description = 'table format') => new Option('--format <fmt>', description).choices(TABLE_FORMATS).default('markdown');

/** How long a command that reads waits for a `run` holding the embedded data dir (see withStore). */
export const READER_WAIT_MS = 3_000;

/** How commands that only read open the store: never create a database, wait briefly for a run. */
export const READ_ONLY: OpenOptions = { mustExist: true, waitMs: READER_WAIT_MS };

/**
 * Open the Store named by the flags, run `fn` on it, and close it whatever happens. Commands that
 * only read pass `{ mustExist: true, waitMs }`: no database is created for them, and they wait
 * briefly for a run that holds the embedded data dir.
 */
export async function withStore<T>(flags: StoreFlags, log: Logger, fn: (store: Store) => Promise<T>, opts: OpenOptions = {}): Promise<T> {
  const store = await Store.open({ databaseUrl: flags.db, dataDir: flags.dataDir }, { command: `sigma-sweep ${process.argv.slice(2, 3).join(' ')}`.trim(), ...opts });
  log.debug('store open', { kind: store.kind, where: store.where }); // already redacted
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Connect to NATS, run `fn`, then drain the connection (a failing drain is ignored). */
export async function withNats<T>(settings: NatsSettings, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connectNats(settings);
  try {
    return await fn(nc);
  } finally {
    await nc.drain().catch(() => {});
  }
}

/** The id of the sweep named by id or name (the latest of that name), or of the latest sweep. */
export async function resolveSweepId(store: Store, requested?: string): Promise<string> {
  if (requested !== undefined && !requested.trim()) throw new UsageError('--sweep: empty value (omit --sweep for the latest sweep)');
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
