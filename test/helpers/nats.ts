/**
 * NATS for integration tests: the server that runs on this machine (127.0.0.1:4222) with a fresh
 * namespace per test file, or a private nats-server (same Debian binary, JetStream on, random
 * port, its own store folder) for tests that must stop and restart the server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { names } from '../../protocol/names.ts';

export const SHARED_NATS = process.env.SIGMA_SWEEP_TEST_NATS ?? 'nats://127.0.0.1:4222';

export function freshNamespace(prefix = 't'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => (c.destroy(), resolve(true)));
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface PrivateNats {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startPrivateNats(): Promise<PrivateNats> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sigma-nats-'));
  let proc: ChildProcess | null = null;
  const start = async () => {
    proc = spawn(process.env.NATS_SERVER_BIN ?? 'nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' });
    await waitForPort(port);
  };
  const stop = async () => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  };
  await start();
  return { url: `nats://127.0.0.1:${port}`, start, stop };
}

/** Remove a namespace's streams (and with them their consumers) and KV bucket. */
export async function dropNamespace(url: string, ns: string): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const n = names(ns);
    for (const s of [n.tasks, n.results, `KV_${n.agentsKv}`]) await jsm.streams.delete(s).catch(() => false);
  } finally {
    await nc.close();
  }
}

const BIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../bin/sigma-sweep.js');

export interface AgentProc {
  proc: ChildProcess;
  log: () => string;
  exited: Promise<number | null>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/** An agent as a separate process, the way it runs in production. */
export function spawnAgent(url: string, ns: string, extra: string[] = []): AgentProc {
  const proc = spawn(process.execPath, [BIN, 'agent', '--nats', url, '--ns', ns, '--backend', 'wasm', '--slots', '1', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SIGMA_SWEEP_LOG: 'text' },
  });
  let text = '';
  proc.stdout!.on('data', (d) => (text += d));
  proc.stderr!.on('data', (d) => (text += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    log: () => text,
    exited,
    async waitFor(pattern, timeoutMs = 60_000) {
      const end = Date.now() + timeoutMs;
      while (!pattern.test(text)) {
        if (Date.now() > end) throw new Error(`agent log never matched ${pattern}:\n${text}`);
        if (proc.exitCode !== null) throw new Error(`agent exited (${proc.exitCode}) before ${pattern}:\n${text}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

export async function stopAgents(agents: AgentProc[]): Promise<void> {
  for (const a of agents) if (a.proc.exitCode === null) a.proc.kill('SIGTERM');
  await Promise.all(agents.map((a) => Promise.race([a.exited, new Promise((r) => setTimeout(r, 15_000))])));
  for (const a of agents) if (a.proc.exitCode === null) a.proc.kill('SIGKILL');
}
