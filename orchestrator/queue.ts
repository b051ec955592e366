/**
 * In-process work queue for the embedded mode: the same contract the JetStream queue offers
 * agents (pull a task, then ack it or nak it for a retry), without a server.
 */
import type { Task } from '../schema/wire.ts';

export interface Delivery {
  task: Task;
  attempt: number;
  ack(): void;
  nak(): void;
}

export interface TaskQueue {
  publish(tasks: Task[]): void;
  /** next delivery, or null when the queue is drained (no pending and no in-flight tasks) */
  pull(): Promise<Delivery | null>;
}

export class InProcessQueue implements TaskQueue {
  private pending: { task: Task; attempt: number }[] = [];
  private inFlight = 0;
  private waiters: Array<() => void> = [];

  constructor(private readonly maxDeliver = 3) {}

  publish(tasks: Task[]): void {
    for (const task of tasks) this.pending.push({ task, attempt: 0 });
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async pull(): Promise<Delivery | null> {
    for (;;) {
      const next = this.pending.shift();
      if (next) {
        this.inFlight++;
        const attempt = next.attempt + 1;
        let settled = false;
        const settle = () => {
          if (settled) throw new Error(`task ${next.task.key} acknowledged twice`);
          settled = true;
          this.inFlight--;
        };
        return {
          task: next.task,
          attempt,
          ack: () => {
            settle();
            this.wake();
          },
          nak: () => {
            settle();
            if (attempt < this.maxDeliver) this.pending.push({ task: next.task, attempt });
            this.wake();
          },
        };
      }
      if (this.inFlight === 0) return null;
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }
}
