import { existsSync, readFileSync } from 'node:fs';

/** Memory figures of one watched process, in bytes. */
export interface ProcessMemory {
  name: string;
  pid: number;
  /** Peak resident set size as the kernel counts it (VmHWM): exact, not sampled. */
  peakBytes: number;
  /** Largest resident set size seen in a sample (VmRSS). */
  sampledMaxBytes: number;
  /** Resident set size at the last sample. */
  lastBytes: number;
  /** True once the process was found gone (its figures are those of its last sample). */
  exited: boolean;
}

/** True where /proc/<pid>/status can be read (Linux). */
export const CAN_SAMPLE_MEMORY = existsSync('/proc/self/status');

/**
 * Samples the resident memory of named processes from /proc/<pid>/status. VmHWM is the
 * kernel's own high-water mark, so the peak is exact as long as one sample is taken before
 * the process ends; the periodic samples keep the figures of processes that die early.
 */
export class MemorySampler {
  private readonly watched = new Map<string, ProcessMemory>();
  private timer: NodeJS.Timeout | undefined;

  /** Starts watching a process (ignored without a pid, e.g. one that failed to spawn). */
  watch(name: string, pid: number | undefined): void {
    if (pid === undefined) return;
    const entry = { name, pid, peakBytes: 0, sampledMaxBytes: 0, lastBytes: 0, exited: false };
    this.watched.set(name, entry);
    this.sampleOne(entry);
  }

  /** Samples every `intervalMs` until stop(); the timer does not keep the process alive. */
  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads every watched process once. */
  sample(): void {
    for (const entry of this.watched.values()) this.sampleOne(entry);
  }

  /** The figures so far, in the order the processes were watched. */
  figures(): ProcessMemory[] {
    return [...this.watched.values()].map((e) => ({ ...e }));
  }

  private sampleOne(entry: ProcessMemory): void {
    if (entry.exited || !CAN_SAMPLE_MEMORY) return;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry.pid}/status`, 'utf8');
    } catch {
      entry.exited = true;
      return;
    }
    const rss = kibField(status, 'VmRSS');
    const hwm = kibField(status, 'VmHWM');
    // A process that has exited but is not yet reaped has no memory lines left.
    if (rss === undefined || hwm === undefined) {
      entry.exited = true;
      return;
    }
    entry.lastBytes = rss;
    entry.sampledMaxBytes = Math.max(entry.sampledMaxBytes, rss);
    entry.peakBytes = Math.max(entry.peakBytes, hwm);
  }
}

/** A "Name:   1234 kB" field of /proc/<pid>/status, in bytes. */
function kibField(status: string, name: string): number | undefined {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}
