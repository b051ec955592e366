/**
 * Progress bar on stderr. On a terminal it redraws one line; otherwise (CI, pipes, logs) it
 * prints a line at most every 10 % so logs stay readable.
 */
export class ProgressBar {
  private done = 0;
  private lastPct = -1;
  private readonly start = Date.now();
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(out.isTTY) && process.env.CI !== 'true';
  }

  update(done: number, detail = ''): void {
    this.done = Math.min(done, this.total);
    const frac = this.total ? this.done / this.total : 1;
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = frac > 0 && frac < 1 ? (elapsed / frac) * (1 - frac) : 0;
    const text = `${this.label} ${this.done}/${this.total} (${(100 * frac).toFixed(0)}%) ${elapsed.toFixed(0)}s elapsed${eta ? `, ~${eta.toFixed(0)}s left` : ''}${detail ? ` ${detail}` : ''}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round(frac * width);
      this.out.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}\x1b[K`);
    } else {
      const p = Math.floor(frac * 10);
      if (p !== this.lastPct) {
        this.lastPct = p;
        this.out.write(`${text}\n`);
      }
    }
  }

  finish(): void {
    this.update(this.total);
    if (this.tty) this.out.write('\n');
  }
}
