/**
 * Draining: SIGTERM, SIGINT or an abort signal stop new pulls; the running tasks get a grace period
 * to finish, after which they are handed back (nak) for immediate redelivery. Nothing is lost.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../protocol/log.ts';

export class Drain {
  private draining = false;
  private why: string | null = null;
  private readonly waiters: Array<() => void> = [];
  private readonly sigterm = () => this.begin('SIGTERM');
  private readonly sigint = () => this.begin('SIGINT');

  constructor(
    private readonly log: Logger,
    stopSignal?: AbortSignal,
  ) {
    process.on('SIGTERM', this.sigterm);
    process.on('SIGINT', this.sigint);
    stopSignal?.addEventListener('abort', () => this.begin('abort'));
  }

  get active(): boolean {
    return this.draining;
  }

  /** What began the drain ('SIGTERM', 'SIGINT', 'abort', 'idle'), or null while not draining. */
  get reason(): string | null {
    return this.why;
  }

  begin(reason: string): void {
    if (this.draining) return;
    this.draining = true;
    this.why = reason;
    this.log.info('draining: no new tasks; finishing the current ones', { signal: reason });
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once draining has begun. */
  requested(): Promise<void> {
    return this.draining ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Wait for `work` up to `graceMs`; returns whether it finished in time. The grace timer is
   * cancelled as soon as the work ends, so a drained agent exits at once instead of holding the
   * event loop open for the rest of the grace period.
   */
  async finish(work: Promise<unknown>, graceMs: number): Promise<boolean> {
    const grace = new AbortController();
    const timeUp = sleep(graceMs, false, { signal: grace.signal }).catch(() => false);
    try {
      return await Promise.race([work.then(() => true), timeUp]);
    } finally {
      grace.abort();
    }
  }

  /** Stop listening for signals. */
  close(): void {
    process.off('SIGTERM', this.sigterm);
    process.off('SIGINT', this.sigint);
  }
}
