/**
 * CPU time of named processes and of the whole machine, sampled from /proc at a fixed
 * interval, so a benchmark can say afterwards who used the cores during a time window:
 * the workers being measured, Redis, the S3 server, or some other program on the machine.
 * Linux only; elsewhere every figure is empty.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU counters (USER_HZ; 100 on Linux x86 and arm). */
const TICKS_PER_SECOND = 100;

interface Sample {
  /** Wall clock, ms since the epoch (the same clock as BullMQ's job timestamps). */
  at: number;
  /** Busy CPU seconds of the whole machine since boot (all cores). */
  machineBusy: number;
  /** CPU seconds (user + system) of each named process since it started. */
  procs: Map<string, number>;
}

/** Cores in use on average over a window: per named process, all of them, the machine. */
export interface CpuWindow {
  /** Length of the sampled window in seconds (a little wider than the one asked for). */
  seconds: number;
  /** Average cores busy, whole machine. */
  machineCores: number;
  /** Average cores used by each named process. */
  processes: Record<string, number>;
  /** machineCores minus the named processes: everything else on the machine. */
  otherCores: number;
}

function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const [, ...fields] = line.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - fields[3] - fields[4]) / TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

function processSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; fields after its ')' are plain numbers.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Samples CPU counters every `intervalMs` while started. */
export class CpuSampler {
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;

  /** `processes` is asked at every sample, so processes started later are picked up. */
  constructor(
    private readonly processes: () => Map<string, number>,
    private readonly intervalMs = 250,
  ) {}

  start(): void {
    if (this.timer) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Takes one sample now. */
  sample(): void {
    const procs = new Map<string, number>();
    for (const [name, pid] of this.processes()) {
      const s = processSeconds(pid);
      if (s !== undefined) procs.set(name, s);
    }
    this.samples.push({ at: Date.now(), machineBusy: machineBusySeconds(), procs });
  }

  /**
   * Average cores used between `startMs` and `endMs` (wall clock), from the last sample at or
   * before the start to the first at or after the end. Undefined without two such samples.
   */
  window(startMs: number, endMs: number): CpuWindow | undefined {
    const before = this.samples.filter((s) => s.at <= startMs).at(-1);
    const after = this.samples.find((s) => s.at >= endMs);
    if (!before || !after || after.at <= before.at) return undefined;
    const seconds = (after.at - before.at) / 1000;
    const processes: Record<string, number> = {};
    let named = 0;
    for (const [name, end] of after.procs) {
      // A process started inside the window counts from zero.
      const used = end - (before.procs.get(name) ?? 0);
      processes[name] = round(used / seconds);
      named += used;
    }
    const machineCores = (after.machineBusy - before.machineBusy) / seconds;
    return {
      seconds: round(seconds),
      machineCores: round(machineCores),
      processes,
      otherCores: round(Math.max(0, machineCores - named / seconds)),
    };
  }
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
