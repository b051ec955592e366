/**
 * Progress bars: how a bar is drawn (drawBar), the one-line summary `status` prints
 * (progressLine), and ProgressBar, the live bar on stderr.
 */

/** `[####......]`: `width` cells, the share `frac` (0..1) of them filled. */
export function drawBar(frac: number, width: number): string {
  const filled = Math.round(frac * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** `[###...] 3/10 tasks done (30.0%), ETA ~42s`; no ETA part when `etaSeconds` is null. */
export function progressLine(done: number, total: number, etaSeconds: number | null): string {
  const frac = total ? done / total : 0;
  const eta = etaSeconds != null ? `, ETA ~${Math.round(etaSeconds)}s` : '';
  return `${drawBar(frac, 30)} ${done}/${total} tasks done (${(100 * frac).toFixed(1)}%)${eta}`;
}

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
      this.out.write(`\r${drawBar(frac, 24)} ${text}\x1b[K`);
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
