/** An output stream as the CLI uses it; a terminal says so with `isTTY` and `columns`. */
export interface OutputStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * Lines that change in place, on stderr: on a terminal the block is redrawn (at most every
 * `redrawMs`); elsewhere (a pipe, a log file) it is printed again when it has changed, at
 * most every `printMs`, so logs get a few lines rather than one per update.
 */
export class LiveView {
  private drawn = 0;
  private lastText = '';
  private lastAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly out: OutputStream,
    private readonly options: { redrawMs?: number; printMs?: number; now?: () => number } = {},
  ) {}

  /**
   * Shows these lines now if `force`, else when it is time. Off a terminal, `key` says what
   * counts as a change (default: the text), so a ticking clock alone prints nothing.
   */
  update(lines: string[], force = false, key?: string): void {
    const now = (this.options.now ?? Date.now)();
    const text = key ?? lines.join('\n');
    if (this.out.isTTY) {
      if (!force && now - this.lastAt < (this.options.redrawMs ?? 100)) return;
      const width = Math.max(20, (this.out.columns ?? 100) - 1);
      const clipped = lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
      const up = this.drawn > 0 ? `\x1b[${this.drawn}A\x1b[J` : '';
      this.out.write(`${up}${clipped.join('\n')}\n`);
      this.drawn = clipped.length;
    } else {
      if (text === this.lastText) return;
      if (!force && now - this.lastAt < (this.options.printMs ?? 2000)) return;
      this.out.write(`${lines.join('\n')}\n`);
    }
    this.lastText = text;
    this.lastAt = now;
  }

  /** Shows the final lines; later output goes below them. */
  finish(lines: string[], key?: string): void {
    this.update(lines, true, key);
    this.drawn = 0;
  }
}
