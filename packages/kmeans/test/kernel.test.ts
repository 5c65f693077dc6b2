import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KMeansError, Kernel, Rng, allocPoints, freePoints, kernel } from '../src/index.js';

const code = (c: string) => (e: unknown) => e instanceof KMeansError && e.code === c;

function randomRows(rows: number, dim: number, rng: Rng, scale = 1): Float32Array {
  const a = new Float32Array(rows * dim);
  for (let i = 0; i < a.length; i++) a[i] = scale * rng.gaussian();
  return a;
}

test('allocator: blocks are 64-byte aligned and do not overlap', () => {
  const kern = new Kernel();
  const blocks: [number, number][] = [];
  for (const bytes of [0, 1, 4, 63, 64, 65, 100, 1000, 4096, 12345]) {
    const ptr = kern.alloc(bytes);
    assert.equal(ptr % 64, 0, `alloc(${bytes}) = ${ptr}`);
    assert.ok(ptr > 0, 'pointer 0 stands for "none" in kernel calls');
    blocks.push([ptr, Math.max(64, bytes)]);
  }
  blocks.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < blocks.length; i++) {
    assert.ok(blocks[i - 1][0] + blocks[i - 1][1] <= blocks[i][0], 'blocks overlap');
  }
});

test('allocator: a reused block is zero-filled', () => {
  const kern = new Kernel();
  const a = kern.alloc(1000);
  const guard = kern.alloc(64);
  kern.f32(a, 250).fill(-7.5);
  kern.release(a);
  const again = kern.alloc(1000);
  assert.equal(again, a, 'first fit takes the freed block');
  assert.ok(kern.f32(again, 250).every((v) => v === 0));

  // A smaller block carved from a dirty free block is zero too.
  kern.i32(again, 250).fill(0x7fffffff);
  kern.release(again);
  const small = kern.alloc(100);
  assert.equal(small, a);
  assert.ok(new Uint8Array(kern.memory.buffer, small, 128).every((v) => v === 0));
  kern.release(small);
  kern.release(guard);
  assert.equal(kern.usage().allocated, 0);
});

test('allocator: released neighbours coalesce, and only neighbours', () => {
  const kern = new Kernel();
  const a = kern.alloc(128);
  const b = kern.alloc(256);
  const c = kern.alloc(64);
  assert.equal(b, a + 128);
  assert.equal(c, b + 256);
  kern.release(b);
  kern.release(a);
  // a and b now form one free block of 384 bytes where a was.
  const ab = kern.alloc(384);
  assert.equal(ab, a);
  kern.release(ab);
  // One byte more does not fit there: c is still in use right after it.
  const big = kern.alloc(385);
  assert.ok(big > c, `alloc(385) = ${big}`);
  kern.release(big);
  kern.release(c);
  // Everything is free again, so the next block starts where a did.
  assert.equal(kern.alloc(1024), a);
});

test('allocator: growing the memory keeps old views valid and new blocks zero', () => {
  const kern = new Kernel();
  const a = kern.alloc(64);
  const view = kern.f32(a, 16);
  view.fill(3);
  const before = kern.memory.buffer.byteLength;
  const bytes = before + (1 << 20);
  const big = kern.alloc(bytes);
  assert.ok(kern.memory.buffer.byteLength >= big + bytes);
  assert.ok(kern.holds(view), 'a view made before growth is still kernel memory');
  assert.ok(kern.holds(kern.f32(big, 4)));
  assert.deepEqual(Array.from(kern.f32(a, 16)), new Array(16).fill(3));
  const tail = kern.f32(big + bytes - 4096, 1024);
  assert.ok(tail.every((v) => v === 0));
  assert.equal(kern.usage().allocated, 64 + Math.ceil(bytes / 64) * 64);
});

test('allocator: unknown pointers and foreign arrays are refused', () => {
  const kern = new Kernel();
  const a = kern.alloc(64);
  assert.throws(() => kern.release(a + 64), /not an allocated block/);
  assert.throws(() => kern.release(12345), /not an allocated block/);
  kern.release(a);
  assert.throws(() => kern.release(a), /not an allocated block/, 'double release');
});

test('holds: allocPoints views and their subarrays, not plain or foreign arrays', () => {
  const shared = kernel();
  const points = allocPoints(10, 3);
  try {
    assert.equal(points.length, 30);
    assert.equal(points.byteOffset % 64, 0);
    assert.ok(points.every((v) => v === 0));
    assert.ok(shared.holds(points));
    assert.ok(shared.holds(points.subarray(6, 12)));
    assert.ok(shared.holds(new Int32Array(points.buffer, points.byteOffset, 4)));
    assert.equal(shared.holds(new Float32Array(30)), false);
    assert.equal(shared.holds(new Float32Array(new SharedArrayBuffer(120))), false);
    const other = new Kernel();
    assert.equal(shared.holds(other.f32(other.alloc(64), 16)), false, 'another kernel');
  } finally {
    freePoints(points);
  }
  assert.throws(() => freePoints(new Float32Array(4)), code('KMEANS_INVALID_ARGUMENT'));
  assert.throws(() => freePoints(points), code('KMEANS_INVALID_ARGUMENT'), 'freed twice');
});

test('KernelPool.split returns each part result in part order', () => {
  const kern = kernel();
  const count = 3001;
  const ptr = kern.alloc(count * 4);
  const data = kern.f32(ptr, count);
  // Small integers: every partial sum is exact in float32.
  for (let i = 0; i < count; i++) data[i] = (i * 37) % 101;
  const sumOf = (lo: number, hi: number) => {
    let s = 0;
    for (let i = lo; i < hi; i++) s += data[i];
    return s;
  };
  try {
    const edges = [0, 1000, 1777, 1778, 3001];
    const got = kern
      .workers()
      .split('stream_sum', 4, (p) => [ptr + edges[p] * 4, edges[p + 1] - edges[p]]);
    assert.deepEqual(got, [
      sumOf(0, 1000),
      sumOf(1000, 1777),
      sumOf(1777, 1778),
      sumOf(1778, 3001),
    ]);

    const rng = new Rng(5);
    for (let call = 0; call < 100; call++) {
      const parts = 1 + (call % 4);
      const cuts = [0];
      for (let p = 1; p < parts; p++) cuts.push(rng.nextInt(count + 1));
      cuts.push(count);
      cuts.sort((x, y) => x - y);
      const sums = kern
        .workers()
        .split('stream_sum', parts, (p) => [ptr + cuts[p] * 4, cuts[p + 1] - cuts[p]]);
      const want = cuts.slice(0, -1).map((lo, p) => sumOf(lo, cuts[p + 1]));
      assert.deepEqual(sums, want, `call ${call}, cuts ${cuts}`);
    }
  } finally {
    kern.release(ptr);
  }
});

test('KernelPool.split: a failing part throws and the pool keeps working', () => {
  const kern = kernel();
  const ptr = kern.copyIn(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]));
  try {
    assert.throws(
      () => kern.workers().split('sqdist', 2, () => [ptr, ptr, 8]),
      /cannot run on pool threads/,
    );
    // Part 1 reads far outside the memory: the wasm trap is reported, not swallowed.
    const outside = 0xffff_ff00;
    assert.throws(
      () => kern.workers().split('stream_sum', 2, (p) => (p === 0 ? [ptr, 8] : [outside, 64])),
      /failed on a pool thread/,
    );
    assert.deepEqual(
      kern.workers().split('stream_sum', 2, (p) => [ptr + 16 * p, 4]),
      [10, 26],
    );
  } finally {
    kern.release(ptr);
  }
});

test('KernelPool.close ends the threads; the next split starts new ones', async () => {
  const kern = new Kernel();
  const ptr = kern.copyIn(new Float32Array([1, 2, 3, 4]));
  const pool = kern.workers();
  assert.deepEqual(
    pool.split('stream_sum', 2, (p) => [ptr + 8 * p, 2]),
    [3, 7],
  );
  await pool.close();
  assert.deepEqual(
    pool.split('stream_sum', 3, (p) => [ptr + 4 * p, 1]),
    [1, 2, 3],
  );
  await pool.close();
});

test('sqdist: a row is exactly 0 from itself and the distance is symmetric', () => {
  const kern = kernel();
  const rng = new Rng(12);
  for (const d of [1, 2, 3, 4, 5, 7, 15, 16, 17, 31, 33, 64, 100, 2888]) {
    for (const scale of [1, 1e-3, 1e3]) {
      const a = randomRows(1, d, rng, scale);
      const b = randomRows(1, d, rng, scale);
      for (let t = 0; t < d; t++) a[t] += 1000 * scale;
      const pa = kern.copyIn(a);
      const pb = kern.copyIn(b);
      assert.equal(kern.fn.sqdist(pa, pa, d), 0, `d${d}`);
      const ab = kern.fn.sqdist(pa, pb, d);
      assert.equal(ab, kern.fn.sqdist(pb, pa, d), `d${d}`);
      let want = 0;
      for (let t = 0; t < d; t++) want += (a[t] - b[t]) ** 2;
      assert.ok(Math.abs(ab - want) <= 1e-5 * want, `d${d}: ${ab} vs ${want}`);
      kern.release(pa);
      kern.release(pb);
    }
  }
});

test('cross_sqdist and pairwise_sqdist give the same bits as sqdist', () => {
  const kern = kernel();
  const rng = new Rng(13);
  const d = 19;
  const n = 7;
  const m = 5;
  const x = kern.copyIn(randomRows(n, d, rng));
  const y = kern.copyIn(randomRows(m, d, rng));
  const out = kern.alloc(n * m * 4);
  const cc = kern.alloc(n * n * 4);
  kern.fn.cross_sqdist(x, n, y, m, d, out);
  kern.fn.pairwise_sqdist(x, n, d, cc);
  const cross = kern.f32(out, n * m);
  const pairs = kern.f32(cc, n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      assert.equal(cross[i * m + j], kern.fn.sqdist(x + i * d * 4, y + j * d * 4, d));
    }
    for (let j = 0; j < n; j++) {
      const want = i === j ? 0 : kern.fn.sqdist(x + i * d * 4, x + j * d * 4, d);
      assert.equal(pairs[i * n + j], want);
    }
  }
  for (const b of [x, y, out, cc]) kern.release(b);
});

test('dots matches float64 dot products for every tail shape, and writes only n x m', () => {
  const kern = kernel();
  const rng = new Rng(14);
  const GUARD = 32;
  for (const d of [1, 3, 4, 5, 17, 64]) {
    for (let n = 1; n <= 9; n++) {
      for (let m = 1; m <= 9; m++) {
        const xs = randomRows(n, d, rng);
        const ys = randomRows(m, d, rng);
        const x = kern.copyIn(xs);
        const y = kern.copyIn(ys);
        const out = kern.alloc((n * m + GUARD) * 4);
        const spare = kern.alloc(4 * m * 4);
        kern.f32(out, n * m + GUARD).fill(-999);
        kern.fn.dots(x, n, y, m, d, out, spare);
        const got = kern.f32(out, n * m + GUARD);
        const one = kern.alloc(64);
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < m; j++) {
            let want = 0;
            let size = 0;
            for (let t = 0; t < d; t++) {
              want += xs[i * d + t] * ys[j * d + t];
              size += Math.abs(xs[i * d + t] * ys[j * d + t]);
            }
            const v = got[i * m + j];
            const shape = `d${d} n${n} m${m} (${i}, ${j})`;
            assert.ok(Math.abs(v - want) <= 1e-5 * size, `${shape}: ${v} vs ${want}`);
            // Blocking does not change the sum: a 1 x 1 call gives the same bits.
            kern.fn.dots(x + i * d * 4, 1, y + j * d * 4, 1, d, one, spare);
            assert.equal(kern.f32(one, 1)[0], v, shape);
          }
        }
        for (let t = n * m; t < n * m + GUARD; t++) assert.equal(got[t], -999, `d${d} n${n} m${m}`);
        for (const b of [x, y, out, spare, one]) kern.release(b);
      }
    }
  }
});

test('stream_sum adds every float, tails included', () => {
  const kern = kernel();
  for (const count of [0, 1, 3, 15, 16, 17, 33, 1000]) {
    const values = Float32Array.from({ length: count }, (_, i) => (i % 13) - 4);
    const ptr = kern.copyIn(values.length ? values : new Float32Array(1));
    const want = values.reduce((s, v) => s + v, 0);
    assert.equal(kern.fn.stream_sum(ptr, count), want, `count ${count}`);
    kern.release(ptr);
  }
});
