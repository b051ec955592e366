/**
 * `launch --local N`: the Job's interface on one machine. N child processes of
 * `node bin/sigma-sweep.js agent --exit-when-idle …`, their log lines forwarded to our stderr with
 * the agent's id (a `[id] ` prefix, or an `agent` field on JSON lines), stopped when the sweep is
 * done, when one of them reports bad input (exit 2: the others would fail the same way), or when
 * the launcher gets SIGINT/SIGTERM. No orphans: stopping sends SIGTERM (the agents drain: finish
 * or hand back their task), then SIGKILL after the drain timeout; and every agent holds an IPC
 * channel to the launcher and drains by itself when that closes, which is also what happens
 * when the launcher is killed without a chance to stop them (`agent --stop-with-parent`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Names } from '../protocol/names.ts';
import type { Logger } from '../protocol/log.ts';
import type { Store } from './db/store.ts';
import { EXIT, ExitCodeError } from './exit-code.ts';
import { LaunchState } from './launches.ts';
import { finishedOutcome, sweepProgress, Wakeup, type SweepProgress } from './launch-progress.ts';
import { ingestBacklog, sweepTaskBacklog } from './nats/backlog.ts';
import type { PodView } from './k8s/pod-watch.ts';

const BIN = fileURLToPath(new URL('../bin/sigma-sweep.js', import.meta.url));

export interface LocalAgentsOptions {
  count: number;
  slots: number;
  backend: string;
  idleSeconds: number;
  drainSeconds: number;
  /** id of agent i (1-based) in the registry and in the log prefix */
  idOf: (i: number) => string;
  /** NATS connection settings as the agents' environment (NATS_URL, NATS_USER…, SIGMA_SWEEP_NS): never on their command lines */
  env: Record<string, string>;
  logFormat: 'text' | 'json';
  /** where forwarded log lines go (default: stderr) */
  write?: (line: string) => void;
}

interface Child {
  id: string;
  proc: ChildProcess;
  code: number | null;
  signal: NodeJS.Signals | null;
  exited: Promise<void>;
  stoppedByUs: boolean;
}

export class LocalAgents {
  private readonly children: Child[] = [];
  private listeners: Array<() => void> = [];

  constructor(private readonly o: LocalAgentsOptions) {}

  /** Called whenever an agent starts or ends. */
  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  private changed(): void {
    for (const fn of this.listeners) fn();
  }

  start(): void {
    for (let i = 1; i <= this.o.count; i++) this.spawnOne(this.o.idOf(i));
  }

  private forward(id: string, stream: NodeJS.ReadableStream): void {
    const write = this.o.write ?? ((line: string) => void process.stderr.write(line + '\n'));
    createInterface({ input: stream }).on('line', (line) => {
      if (this.o.logFormat === 'json' && line.startsWith('{')) {
        try {
          write(JSON.stringify({ ...JSON.parse(line), agent: id }));
          return;
        } catch {
          /* not JSON after all: prefixed below */
        }
      }
      write(`[${id}] ${line}`);
    });
  }

  private spawnOne(id: string): void {
    const args = [
      BIN,
      'agent',
      '--id',
      id,
      '--slots',
      String(this.o.slots),
      '--backend',
      this.o.backend,
      '--exit-when-idle',
      String(this.o.idleSeconds),
      '--drain-timeout',
      String(this.o.drainSeconds),
      '--stop-with-parent',
    ];
    const proc = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...this.o.env, SIGMA_SWEEP_LOG: this.o.logFormat },
    });
    const child: Child = { id, proc, code: null, signal: null, stoppedByUs: false, exited: Promise.resolve() };
    child.exited = new Promise<void>((resolve) =>
      proc.once('exit', (code, signal) => {
        child.code = code;
        child.signal = signal;
        resolve();
        this.changed();
      }),
    );
    proc.on('error', () => {}); // a failed spawn also ends in 'exit'
    this.forward(id, proc.stdout!);
    this.forward(id, proc.stderr!);
    this.children.push(child);
  }

  running(): number {
    return this.children.filter((c) => c.code === null && c.signal === null).length;
  }

  /** Agents that ended on their own with something other than "the queue is empty" (exit 0). */
  failures(): Array<{ id: string; code: number | null; signal: NodeJS.Signals | null }> {
    return this.children.filter((c) => !c.stoppedByUs && (c.code !== null || c.signal !== null) && c.code !== 0).map(({ id, code, signal }) => ({ id, code, signal }));
  }

  /** The agents as `status` shows them (the shape of a pod). */
  views(): PodView[] {
    return this.children.map((c) => {
      const ended = c.code !== null || c.signal !== null;
      const ok = c.code === 0 || (c.stoppedByUs && (c.code === EXIT.sigterm || c.signal === 'SIGTERM'));
      return {
        name: `${c.id} (pid ${c.proc.pid ?? '?'})`,
        phase: ended ? (ok ? 'Succeeded' : 'Failed') : c.stoppedByUs ? 'Terminating' : 'Running',
        restarts: 0,
        node: os.hostname(),
        reason: c.signal ? `signal ${c.signal}` : null,
        exitCode: c.code,
      };
    });
  }

  /** SIGTERM every running agent, SIGKILL those still there after `graceMs`; resolves when all have ended. */
  async stop(graceMs: number): Promise<void> {
    const live = this.children.filter((c) => c.code === null && c.signal === null);
    for (const c of live) {
      c.stoppedByUs = true;
      c.proc.kill('SIGTERM');
    }
    if (live.length) this.changed();
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all(live.map((c) => c.exited));
    await Promise.race([all, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    for (const c of live) if (c.code === null && c.signal === null) c.proc.kill('SIGKILL');
    await all;
  }
}

export interface LocalLaunchDeps {
  store: Store;
  nc: NatsConnection;
  n: Names;
  log: Logger;
}

export interface LocalLaunchOptions {
  sweepId: string;
  agents: LocalAgentsOptions;
  intervalMs: number;
  signal: AbortSignal;
}

const describeEnd = (f: { id: string; code: number | null; signal: NodeJS.Signals | null }) => `${f.id} ${f.signal ? `was killed by ${f.signal}` : `exited with code ${f.code}`}`;

/** Run the agents until the sweep is done; throws ExitCodeError when it cannot end well. */
export async function launchLocal(deps: LocalLaunchDeps, o: LocalLaunchOptions): Promise<SweepProgress> {
  const { store, nc, n, log } = deps;
  const agents = new LocalAgents(o.agents);
  const wakeup = new Wakeup();
  const state = new LaunchState(nc, n, { sweepId: o.sweepId, mode: 'local', where: os.hostname(), agents: o.agents.count, job: null, pods: [], state: 'running', message: null }, log);
  agents.onChange(() => {
    state.update({ pods: agents.views() });
    wakeup.wake();
  });
  const grace = (o.agents.drainSeconds + 5) * 1000;
  agents.start();
  log.info('local agents started', { sweep: o.sweepId, agents: o.agents.count, slots: o.agents.slots });
  state.update({ pods: agents.views() });
  let warnedIngest = false;
  try {
    for (;;) {
      await wakeup.wait(o.intervalMs, o.signal);
      if (o.signal.aborted) {
        const left = await sweepProgress(store, o.sweepId).catch(() => null);
        throw new ExitCodeError(
          o.signal.reason === 'SIGINT' ? EXIT.sigint : EXIT.sigterm,
          `stopped (${String(o.signal.reason ?? 'signal')}); agents stopped${left ? `, ${left.total - left.done - left.dead} task(s) left` : ''}: launch again to resume`,
        );
      }
      const p = await sweepProgress(store, o.sweepId);
      if (p.finished) {
        await agents.stop(grace);
        const failed = agents.failures();
        state.update({ state: 'done', message: 'sweep done', pods: agents.views() });
        await state.flush();
        log.info('sweep done; local agents stopped', { sweep: o.sweepId, done: p.done, dead: p.dead });
        if (failed.length) throw new ExitCodeError(EXIT.failure, `sweep ${o.sweepId} is done, but agent(s) failed: ${failed.map(describeEnd).join('; ')}`);
        finishedOutcome(p, o.sweepId);
        return p;
      }
      const failed = agents.failures();
      const badInput = failed.find((f) => f.code === EXIT.badInput);
      if (badInput) throw new ExitCodeError(EXIT.badInput, `${describeEnd(badInput)} (bad input: flags, backend or configuration; its log is above); the other agents were stopped`);
      if (agents.running() === 0) {
        const remaining = (await sweepTaskBacklog(nc, n, o.sweepId)) ?? 0;
        if (remaining > 0) {
          throw new ExitCodeError(EXIT.failure, `every agent ended before sweep ${o.sweepId} was done (${remaining} task(s) still queued)${failed.length ? `: ${failed.map(describeEnd).join('; ')}` : ''}`);
        }
        // all tasks ran: only the results' ingestion is left
        const b = await ingestBacklog(nc, n);
        if (!warnedIngest && b && b.pending + b.inFlight > 0 && !b.ingesterPulling) {
          log.warn('every task has run but no ingester stores the results: run `sigma-sweep orchestrate` (or launch with --orchestrate)', { waiting: b.pending + b.inFlight });
          warnedIngest = true;
        }
      }
    }
  } catch (e) {
    await agents.stop(grace);
    state.update({ state: e instanceof ExitCodeError && e.exitCode >= 128 ? 'stopped' : 'failed', message: (e as Error).message, pods: agents.views() });
    await state.flush();
    throw e;
  }
}
