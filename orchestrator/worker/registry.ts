/**
 * The agent's entry in the KV registry (id, host, backend, device, slots, current tasks): written
 * every 5 s and promptly (at most once a second) when a task starts or ends, deleted on stop. The
 * bucket's TTL removes agents that vanish (NATS 2.9 sends no expiry events; the orchestrator polls).
 */
import os from 'node:os';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { AgentRecord } from '../../schema/wire.ts';
import type { Names } from '../../protocol/names.ts';
import type { Logger } from '../../protocol/log.ts';

export const HEARTBEAT_MS = 5_000;
export const REGISTRY_TTL_MS = 30_000;

export interface RunningTask {
  key: string;
  sweepId: string;
  attempt: number;
  startedAt: string;
}

export class AgentRegistration {
  private kv: KV | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastBeat = 0;
  readonly running = new Map<string, RunningTask>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly n: Names,
    private readonly id: string,
    private readonly facts: { backend: string; device: string; slots: number },
    private readonly log: Logger,
  ) {}

  record(): AgentRecord {
    return {
      id: this.id,
      host: os.hostname(),
      pid: process.pid,
      ...this.facts,
      tasks: [...this.running.values()].map((t) => ({ key: t.key, sweepId: t.sweepId, startedAt: t.startedAt, attempt: t.attempt })),
      updatedAt: new Date().toISOString(),
    };
  }

  /** Write the entry now (failures are logged at debug: the next beat tries again). */
  async beat(): Promise<void> {
    try {
      this.kv ??= await new Kvm(this.nc).create(this.n.agentsKv, { ttl: REGISTRY_TTL_MS });
      await this.kv.put(this.id, JSON.stringify(this.record()));
    } catch (e) {
      this.log.debug('heartbeat failed', { error: (e as Error).message });
    }
  }

  /** Refresh soon after a task starts or ends, at most once a second. */
  beatSoon(): void {
    if (Date.now() - this.lastBeat < 1000) return;
    this.lastBeat = Date.now();
    void this.beat();
  }

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), HEARTBEAT_MS);
  }

  taskStarted(t: RunningTask): void {
    this.running.set(t.key, t);
    this.beatSoon();
  }

  taskEnded(key: string): void {
    this.running.delete(key);
    this.beatSoon();
  }

  /** Stop beating and remove the entry (it would expire anyway). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    try {
      await this.kv?.delete(this.id);
    } catch {
      /* expires anyway */
    }
  }
}
