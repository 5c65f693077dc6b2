import { LiveView, type OutputStream } from './live-view.js';
import { RateMeter, transferLine } from './progress.js';

/**
 * The progress of many files going up or down: counts, bytes, the current rate and ETA,
 * redrawn on a timer (so the rate stays current during a long file) and on every file.
 */
export class TransferProgress {
  private filesDone = 0;
  private bytesDone = 0;
  private failed = 0;
  private readonly meter = new RateMeter();
  private readonly view: LiveView;
  private readonly started = Date.now();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly label: string,
    private readonly filesTotal: number,
    private readonly bytesTotal: number,
    out: OutputStream,
    private readonly skipped = 0,
  ) {
    this.view = new LiveView(out);
  }

  start(): this {
    this.meter.record(0, Date.now());
    this.view.update([this.line()], true);
    this.timer = setInterval(() => this.view.update([this.line()]), 500);
    this.timer.unref();
    return this;
  }

  fileDone(bytes: number): void {
    this.filesDone++;
    this.bytesDone += bytes;
    this.meter.record(this.bytesDone, Date.now());
    this.view.update([this.line()]);
  }

  fileFailed(): void {
    this.failed++;
    this.view.update([this.line()]);
  }

  /** Stops the timer and draws the last state. */
  stop(): { files: number; bytes: number; failed: number; seconds: number } {
    clearInterval(this.timer);
    this.view.finish([this.line()]);
    const seconds = (Date.now() - this.started) / 1000;
    return { files: this.filesDone, bytes: this.bytesDone, failed: this.failed, seconds };
  }

  private line(): string {
    return transferLine({
      label: this.label,
      filesDone: this.filesDone,
      filesTotal: this.filesTotal,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      rate: this.meter.rate(),
      failed: this.failed,
      skipped: this.skipped,
    });
  }
}
