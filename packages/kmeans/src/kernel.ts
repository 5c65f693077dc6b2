import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { KMeansError } from './errors.js';
import { KERNEL_WASM_BASE64 } from './kernel-wasm.js';

/** Functions of the WebAssembly kernel (wasm/kernel.c); every pointer is a byte offset. */
export interface KernelFunctions {
  sqdist(a: number, b: number, d: number): number;
  dots(x: number, n: number, y: number, m: number, d: number, out: number, spare: number): void;
  assign_all(
    x: number,
    rows: number,
    n: number,
    d: number,
    c: number,
    k: number,
    labels: number,
    dist: number,
    work: number,
  ): number;
  assign_pruned(
    x: number,
    rows: number,
    n: number,
    d: number,
    c: number,
    k: number,
    p: number,
    r: number,
    pc: number,
    cc: number,
    rel: number,
    slack: number,
    px: number,
    lb: number,
    labels: number,
    dist: number,
    work: number,
    sums: number,
    counts: number,
  ): number;
  kpp_trials(
    x: number,
    n: number,
    d: number,
    cands: number,
    trials: number,
    k: number,
    closest: number,
    nearest: number,
    ccand: number,
    rel: number,
    slack: number,
    out: number,
    pots: number,
    work: number,
  ): void;
  pairwise_sqdist(c: number, k: number, d: number, cc: number): void;
  cross_sqdist(x: number, n: number, y: number, m: number, d: number, out: number): void;
  stream_sum(x: number, count: number): number;
}

const PAGE = 65536;
/** 4 GiB, the most a 32-bit WebAssembly memory can address. */
const MAX_PAGES = 65536;
const ALIGN = 64;
/** Calls that make V8 compile each kernel function with its optimising tier. */
const WARMUP_CALLS = 2000;
/** Bytes of scratch each thread's warm-up writes into. */
const WARMUP_BYTES = 4096;

/** A block of kernel memory: its byte offset and length. */
interface Block {
  ptr: number;
  size: number;
}

/**
 * The WebAssembly kernel and the one shared linear memory it works on. Points, centroids and
 * scratch live in blocks of that memory handed out by {@link alloc}; a Float32Array viewing
 * such a block (see {@link f32}) is passed to the kernel without a copy. Worker threads
 * ({@link KernelPool}) run the same kernel on the same memory.
 */
export class Kernel {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly fn: KernelFunctions;
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private readonly used = new Map<number, number>();
  private free: Block[] = [];
  private top: number;
  private highWater = 0;
  private pool: KernelPool | null = null;

  constructor() {
    this.module = new WebAssembly.Module(Buffer.from(KERNEL_WASM_BASE64, 'base64'));
    this.memory = new WebAssembly.Memory({ initial: 256, maximum: MAX_PAGES, shared: true });
    const instance = new WebAssembly.Instance(this.module, { env: { memory: this.memory } });
    this.fn = instance.exports as unknown as KernelFunctions;
    this.buffers.add(this.memory.buffer);
    this.top = ALIGN;
    const scratch = this.alloc(WARMUP_BYTES);
    warmUp(this.fn, new Float32Array(this.memory.buffer, scratch, WARMUP_BYTES / 4), scratch);
    this.release(scratch);
  }

  /**
   * A block of at least `bytes` bytes, 64-byte aligned, zero-filled; grows the memory when
   * needed. Throws KMEANS_OUT_OF_MEMORY past the 4 GiB a WebAssembly memory can hold.
   */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const at = this.free.findIndex((b) => b.size >= size);
    let ptr: number;
    if (at >= 0) {
      const block = this.free[at];
      ptr = block.ptr;
      if (block.size === size) this.free.splice(at, 1);
      else this.free[at] = { ptr: ptr + size, size: block.size - size };
    } else {
      ptr = this.top;
      this.ensure(ptr + size);
      this.top = ptr + size;
    }
    // Memory past the high-water mark is fresh from grow() and already zero.
    const dirty = Math.min(ptr + size, this.highWater) - ptr;
    if (dirty > 0) new Uint8Array(this.memory.buffer, ptr, dirty).fill(0);
    this.highWater = Math.max(this.highWater, ptr + size);
    this.used.set(ptr, size);
    return ptr;
  }

  /** Returns a block from {@link alloc} to the free list. */
  release(ptr: number): void {
    const size = this.used.get(ptr);
    if (size === undefined) throw new Error(`kernel memory: ${ptr} is not an allocated block`);
    this.used.delete(ptr);
    let at = this.free.findIndex((b) => b.ptr > ptr);
    if (at < 0) at = this.free.length;
    this.free.splice(at, 0, { ptr, size });
    const merged: Block[] = [];
    for (const b of this.free) {
      const last = merged[merged.length - 1];
      if (last && last.ptr + last.size === b.ptr) last.size += b.size;
      else merged.push({ ...b });
    }
    const tail = merged[merged.length - 1];
    if (tail && tail.ptr + tail.size === this.top) {
      this.top = tail.ptr;
      merged.pop();
    }
    this.free = merged;
  }

  /** Whether `ptr` is the start of a block in use. */
  isBlock(ptr: number): boolean {
    return this.used.has(ptr);
  }

  /** Float32 view of `length` values at `ptr`. */
  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  /** Int32 view of `length` values at `ptr`. */
  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }

  /** Whether `view` lies in kernel memory (then its byteOffset is its pointer). */
  holds(view: ArrayBufferView): boolean {
    return this.buffers.has(view.buffer);
  }

  /** Allocates a block and copies `data` into it; returns the pointer. */
  copyIn(data: Float32Array | Int32Array): number {
    const ptr = this.alloc(data.byteLength);
    new Uint8Array(this.memory.buffer, ptr, data.byteLength).set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
    return ptr;
  }

  /** Bytes of kernel memory in use and reserved. */
  usage(): { allocated: number; reserved: number } {
    let allocated = 0;
    for (const size of this.used.values()) allocated += size;
    return { allocated, reserved: this.memory.buffer.byteLength };
  }

  /** The worker pool over this memory (created on first use; its threads do not keep Node alive). */
  workers(): KernelPool {
    this.pool ??= new KernelPool(this);
    return this.pool;
  }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE);
    if (have / PAGE + pages > MAX_PAGES) {
      throw new KMeansError(
        'KMEANS_OUT_OF_MEMORY',
        `k-means needs ${(end / 2 ** 30).toFixed(2)} GiB of kernel memory, over the 4 GiB limit`,
      );
    }
    this.memory.grow(pages);
    this.buffers.add(this.memory.buffer);
  }
}

/** Runs each kernel function on tiny inputs until V8 compiles it with its optimising tier. */
function warmUp(fn: KernelFunctions, view: Float32Array, base: number): void {
  for (let i = 0; i < view.length; i++) view[i] = (i % 7) * 0.25;
  const a = base;
  const b = base + 256;
  const o = base + 1024;
  const labels = base + 2048;
  const extra = base + 2304;
  new Int32Array(view.buffer, labels, 8).fill(0);
  for (let i = 0; i < WARMUP_CALLS; i++) {
    fn.sqdist(a, b, 20);
    fn.dots(a, 5, b, 3, 8, o, extra);
    fn.assign_all(a, 0, 3, 8, b, 2, labels, o, o + 128);
    fn.assign_pruned(
      a,
      0,
      3,
      8,
      b,
      2,
      a,
      1,
      o,
      0,
      1e-3,
      0,
      extra,
      extra + 128,
      labels,
      o,
      o + 64,
      0,
      0,
    );
    fn.kpp_trials(a, 3, 8, b, 2, 1, o, labels, o, 1e-3, 0, o + 64, o + 128, o + 192);
    fn.pairwise_sqdist(a, 3, 4, o);
    fn.cross_sqdist(a, 2, b, 2, 4, o);
    fn.stream_sum(a, 40);
  }
  view.fill(0);
}

let shared: Kernel | null = null;

/** The process's (or worker thread's) kernel, created on first use. */
export function kernel(): Kernel {
  shared ??= new Kernel();
  return shared;
}

/** Threads used by default for full passes: the machine's cores, at most 8. */
export function defaultThreads(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

/** Most threads a call may ask for. */
export const MAX_THREADS = 64;

/** `threads`, or the default; throws KMEANS_INVALID_ARGUMENT unless it is 1..MAX_THREADS. */
export function resolveThreads(threads: number | undefined): number {
  const t = threads ?? defaultThreads();
  if (!Number.isInteger(t) || t < 1 || t > MAX_THREADS) {
    throw new KMeansError(
      'KMEANS_INVALID_ARGUMENT',
      `threads must be an integer from 1 to ${MAX_THREADS}, got ${t}`,
    );
  }
  return t;
}

/** Kernel functions a pool thread can run, by index. */
const POOL_FUNCTIONS: (keyof KernelFunctions)[] = [
  'assign_all',
  'assign_pruned',
  'kpp_trials',
  'cross_sqdist',
  'dots',
  'stream_sum',
];
/** Control block of a pool thread: int32 slots, then float64 arguments and the result. */
const SEQ = 0;
const DONE = 1;
const FN = 2;
const NARGS = 3;
const FAILED = 4;
const READY = 5;
const ARGS_AT = 32;
const MAX_ARGS = 24;
const RESULT_AT = ARGS_AT + 8 * MAX_ARGS;
const CONTROL_BYTES = RESULT_AT + 8;
/** How long a new pool thread may take to start before the pool gives up on it. */
const START_TIMEOUT_MS = 30_000;

/**
 * Body of each pool thread: the same module on the same memory. It sleeps on its control
 * block until the calling thread raises the sequence number, runs the named function on the
 * float64 arguments there, stores the result and wakes the caller.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const WARMUP_CALLS = ${WARMUP_CALLS};
const { module, memory, warmup, control, names } = workerData;
const fn = new WebAssembly.Instance(module, { env: { memory } }).exports;
(${warmUp.toString()})(fn, new Float32Array(memory.buffer, warmup, ${WARMUP_BYTES / 4}), warmup);
const ctl = new Int32Array(memory.buffer, control, 8);
const args = new Float64Array(memory.buffer, control + ${ARGS_AT}, ${MAX_ARGS});
const result = new Float64Array(memory.buffer, control + ${RESULT_AT}, 1);
Atomics.store(ctl, ${READY}, 1);
Atomics.notify(ctl, ${READY});
let seen = 0;
for (;;) {
  Atomics.wait(ctl, ${SEQ}, seen);
  const seq = Atomics.load(ctl, ${SEQ});
  if (seq === seen) continue;
  seen = seq;
  if (seq < 0) break;
  try {
    result[0] = fn[names[ctl[${FN}]]](...args.subarray(0, ctl[${NARGS}])) ?? 0;
    ctl[${FAILED}] = 0;
  } catch (err) {
    ctl[${FAILED}] = 1;
  }
  Atomics.store(ctl, ${DONE}, seq);
  Atomics.notify(ctl, ${DONE});
}
`;

interface PoolThread {
  worker: Worker;
  ctl: Int32Array;
  args: Float64Array;
  result: Float64Array;
  seq: number;
}

/**
 * Worker threads that run kernel functions on the shared memory, synchronously: the calling
 * thread hands each thread its part, runs part 0 itself, then sleeps (Atomics.wait) until
 * every part is done. Threads start on first use and do not keep Node alive.
 */
export class KernelPool {
  private readonly threads: PoolThread[] = [];
  private broken: Error | null = null;

  constructor(private readonly k: Kernel) {}

  /**
   * Calls kernel function `name` once per part, `argsOf(part)` giving each call's arguments;
   * part 0 runs on this thread, the others on pool threads at the same time. Returns each
   * part's return value (0 for functions without one), in part order. Each part must write to
   * its own memory. Throws if a pool thread cannot start or its call fails.
   */
  split(name: keyof KernelFunctions, parts: number, argsOf: (part: number) => number[]): number[] {
    const index = POOL_FUNCTIONS.indexOf(name);
    if (index < 0) throw new Error(`kernel pool: ${name} cannot run on pool threads`);
    this.grow(parts - 1);
    const posted: PoolThread[] = [];
    for (let p = 1; p < parts; p++) {
      const t = this.threads[p - 1];
      const args = argsOf(p);
      t.args.set(args);
      t.ctl[FN] = index;
      t.ctl[NARGS] = args.length;
      t.seq++;
      Atomics.store(t.ctl, SEQ, t.seq);
      Atomics.notify(t.ctl, SEQ);
      posted.push(t);
    }
    const call = this.k.fn[name] as (...a: number[]) => number | undefined;
    const out = [call(...argsOf(0)) ?? 0];
    for (const t of posted) {
      for (;;) {
        const done = Atomics.load(t.ctl, DONE);
        if (done === t.seq) break;
        Atomics.wait(t.ctl, DONE, done);
      }
      if (t.ctl[FAILED]) throw new Error(`kernel pool: ${name} failed on a pool thread`);
      out.push(t.result[0]);
    }
    return out;
  }

  /** Ends every pool thread. */
  async close(): Promise<void> {
    const ending = this.threads.splice(0).map((t) => {
      Atomics.store(t.ctl, SEQ, -1);
      Atomics.notify(t.ctl, SEQ);
      return t.worker.terminate();
    });
    await Promise.all(ending);
  }

  private grow(count: number): void {
    if (this.broken) throw this.broken;
    const started: PoolThread[] = [];
    while (this.threads.length < count) {
      const warmup = this.k.alloc(WARMUP_BYTES);
      const control = this.k.alloc(CONTROL_BYTES);
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        execArgv: [],
        workerData: {
          module: this.k.module,
          memory: this.k.memory,
          warmup,
          control,
          names: POOL_FUNCTIONS,
        },
      });
      worker.unref();
      const buffer = this.k.memory.buffer;
      const thread: PoolThread = {
        worker,
        ctl: new Int32Array(buffer, control, 8),
        args: new Float64Array(buffer, control + ARGS_AT, MAX_ARGS),
        result: new Float64Array(buffer, control + RESULT_AT, 1),
        seq: 0,
      };
      this.threads.push(thread);
      started.push(thread);
    }
    for (const t of started) {
      if (Atomics.wait(t.ctl, READY, 0, START_TIMEOUT_MS) === 'timed-out' && !t.ctl[READY]) {
        this.broken = new Error('kernel pool: a worker thread did not start');
        throw this.broken;
      }
    }
  }
}
