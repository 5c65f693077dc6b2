/*
 * WebAssembly SIMD kernels of @imgcluster/kmeans.
 *
 * Built by packages/kmeans/wasm/build.mjs into src/kernel-wasm.ts (the module's bytes, base64).
 * Every pointer is a byte offset into one shared linear memory that JavaScript owns and lays
 * out; the kernels keep no state, use no stack and no static data, so several threads can run
 * them on the same memory at once.
 *
 * Sums are float32 in four vector lanes, added in a fixed order, so the same pair of rows
 * always gives the same bits, whichever kernel computed it; sqdist(a, a) is exactly 0.
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define INF (__builtin_inff())

static inline float hsum(v128_t v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
         (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

static inline v128_t sq_diff(v128_t acc, const float *a, const float *b) {
  v128_t t = wasm_f32x4_sub(wasm_v128_load(a), wasm_v128_load(b));
  return wasm_f32x4_add(acc, wasm_f32x4_mul(t, t));
}

/* Squared euclidean distance of two rows of length d, four independent accumulators. */
EXPORT(sqdist) float sqdist(const float *a, const float *b, int d) {
  v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
  int i = 0;
  for (; i + 16 <= d; i += 16) {
    s0 = sq_diff(s0, a + i, b + i);
    s1 = sq_diff(s1, a + i + 4, b + i + 4);
    s2 = sq_diff(s2, a + i + 8, b + i + 8);
    s3 = sq_diff(s3, a + i + 12, b + i + 12);
  }
  for (; i + 4 <= d; i += 4) s0 = sq_diff(s0, a + i, b + i);
  float s = hsum(wasm_f32x4_add(wasm_f32x4_add(s0, s1), wasm_f32x4_add(s2, s3)));
  for (; i < d; i++) {
    float t = a[i] - b[i];
    s += t * t;
  }
  return s;
}

static inline v128_t mul_add(v128_t acc, v128_t a, v128_t b) {
  return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b));
}

static inline float dot_tail(float s, const float *a, const float *b, int from, int d) {
  for (int i = from; i < d; i++) s += a[i] * b[i];
  return s;
}

/* Dot products of four rows of x with m rows of y, written to o[r * m + j] for r = 0..3. */
static void dots4(const float *x0, const float *x1, const float *x2, const float *x3,
                  const float *y, int m, int d, float *o) {
  int d4 = d & ~3;
  int j = 0;
  for (; j + 2 <= m; j += 2) {
    const float *y0 = y + j * d, *y1 = y0 + d;
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, b0 = a0, b1 = a0;
    v128_t c0 = a0, c1 = a0, e0 = a0, e1 = a0;
    for (int t = 0; t < d4; t += 4) {
      v128_t u0 = wasm_v128_load(y0 + t), u1 = wasm_v128_load(y1 + t);
      v128_t p = wasm_v128_load(x0 + t);
      a0 = mul_add(a0, p, u0);
      a1 = mul_add(a1, p, u1);
      p = wasm_v128_load(x1 + t);
      b0 = mul_add(b0, p, u0);
      b1 = mul_add(b1, p, u1);
      p = wasm_v128_load(x2 + t);
      c0 = mul_add(c0, p, u0);
      c1 = mul_add(c1, p, u1);
      p = wasm_v128_load(x3 + t);
      e0 = mul_add(e0, p, u0);
      e1 = mul_add(e1, p, u1);
    }
    o[j] = dot_tail(hsum(a0), x0, y0, d4, d);
    o[j + 1] = dot_tail(hsum(a1), x0, y1, d4, d);
    o[m + j] = dot_tail(hsum(b0), x1, y0, d4, d);
    o[m + j + 1] = dot_tail(hsum(b1), x1, y1, d4, d);
    o[2 * m + j] = dot_tail(hsum(c0), x2, y0, d4, d);
    o[2 * m + j + 1] = dot_tail(hsum(c1), x2, y1, d4, d);
    o[3 * m + j] = dot_tail(hsum(e0), x3, y0, d4, d);
    o[3 * m + j + 1] = dot_tail(hsum(e1), x3, y1, d4, d);
  }
  for (; j < m; j++) {
    const float *y0 = y + j * d;
    v128_t a0 = wasm_f32x4_splat(0.0f), b0 = a0, c0 = a0, e0 = a0;
    for (int t = 0; t < d4; t += 4) {
      v128_t u0 = wasm_v128_load(y0 + t);
      a0 = mul_add(a0, wasm_v128_load(x0 + t), u0);
      b0 = mul_add(b0, wasm_v128_load(x1 + t), u0);
      c0 = mul_add(c0, wasm_v128_load(x2 + t), u0);
      e0 = mul_add(e0, wasm_v128_load(x3 + t), u0);
    }
    o[j] = dot_tail(hsum(a0), x0, y0, d4, d);
    o[m + j] = dot_tail(hsum(b0), x1, y0, d4, d);
    o[2 * m + j] = dot_tail(hsum(c0), x2, y0, d4, d);
    o[3 * m + j] = dot_tail(hsum(e0), x3, y0, d4, d);
  }
}

/* Row i of x: the i-th listed row when rows is not null, else the i-th row. */
static inline const float *row_at(const float *x, const int *rows, int i, int d) {
  return rows ? x + rows[i] * d : x + i * d;
}

/*
 * Dot products of n rows of x (all of them, or those listed in rows) with m rows of y (both
 * row-major, width d), written to out[i * m + j]. Register-blocked four rows of x by two rows
 * of y; leftover rows go through the same block with the last row repeated.
 */
static void dots_rows(const float *x, const int *rows, int n, const float *y, int m, int d,
                      float *out, float *spare) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    dots4(row_at(x, rows, i, d), row_at(x, rows, i + 1, d), row_at(x, rows, i + 2, d),
          row_at(x, rows, i + 3, d), y, m, d, out + i * m);
  }
  if (i < n) {
    const float *r0 = row_at(x, rows, i, d);
    const float *r1 = row_at(x, rows, i + 1 < n ? i + 1 : n - 1, d);
    const float *r2 = row_at(x, rows, i + 2 < n ? i + 2 : n - 1, d);
    dots4(r0, r1, r2, r2, y, m, d, spare);
    for (int t = 0; t < (n - i) * m; t++) out[i * m + t] = spare[t];
  }
}

/* Dot products of n rows of x with m rows of y: out[i * m + j]; spare holds 4 x m floats. */
EXPORT(dots)
void dots(const float *x, int n, const float *y, int m, int d, float *out, float *spare) {
  dots_rows(x, 0, n, y, m, d, out, spare);
}

/*
 * Nearest of k centroids for n rows, every distance computed (the reference for the pruned
 * kernel). Ties go to the lowest index. work[0] is increased by n * k. Returns the sum of the
 * distances.
 */
EXPORT(assign_all)
double assign_all(const float *x, const int *rows, int n, int d, const float *c, int k,
                  int *labels, float *dist, int *work) {
  double total = 0;
  work[0] += n * k;
  for (int i = 0; i < n; i++) {
    const float *p = row_at(x, rows, i, d);
    float best = sqdist(p, c, d);
    int bi = 0;
    for (int j = 1; j < k; j++) {
      float dj = sqdist(p, c + j * d, d);
      if (dj < best) {
        best = dj;
        bi = j;
      }
    }
    labels[i] = bi;
    dist[i] = best;
    total += best;
  }
  return total;
}

/* Lower bounds ||P x - P c_j||^2 of every centroid for one row's projection px. */
static inline void lower_bounds(const float *px, const float *pc, int k, int r, float *lb) {
  for (int j = 0; j < k; j++) {
    const float *q = pc + j * r;
    float s = 0;
    for (int t = 0; t < r; t++) {
      float u = px[t] - q[t];
      s += u * u;
    }
    lb[j] = s;
  }
}

/* Index of the smallest entry of lb not yet taken (INF marks taken), or -1. */
static inline int next_smallest(const float *lb, int k) {
  int at = -1;
  float v = INF;
  for (int j = 0; j < k; j++) {
    if (lb[j] < v) {
      v = lb[j];
      at = j;
    }
  }
  return at;
}

#define TILE 16

/* sums[label] += row (sums k x d), counts[label] += 1. */
static inline void add_row(const float *q, int d, int label, float *sums, float *counts) {
  int d4 = d & ~3;
  float *s = sums + label * d;
  int t = 0;
  for (; t < d4; t += 4) {
    wasm_v128_store(s + t, wasm_f32x4_add(wasm_v128_load(s + t), wasm_v128_load(q + t)));
  }
  for (; t < d; t++) s[t] += q[t];
  counts[label] += 1.0f;
}

/*
 * Nearest of k centroids for n rows, skipping centroids that provably cannot win.
 *
 * p (r x d) has orthonormal rows and pc (k x r) holds the centroids' projections P c_j, so
 * ||P x - P c_j||^2 <= ||x - c_j||^2 is a lower bound for every centroid. The centroid with
 * the smallest bound is measured first; the others are taken in order of their bounds and
 * the search stops at the first bound above the best distance. When cc (k x k squared
 * distances between centroids) is given, centroid j is also skipped when
 * ||c_j - c_best||^2 >= 4 best (then ||x - c_j|| >= ||x - c_best|| by the triangle
 * inequality). Both tests compare against best * (1 + rel) + slack, so rounding cannot skip
 * a centroid that is nearer. Distances are exact sqdist values and ties go to the lowest
 * index, as in assign_all.
 *
 * When sums is not null, each row is also added to its centroid's sum while it is still in
 * cache (sums[label] += row, counts[label] += 1). Scratch: px holds (TILE + 4) x r floats,
 * lb k floats. work[0] is increased by the number of distances computed. Returns the sum of
 * the distances.
 */
EXPORT(assign_pruned)
double assign_pruned(const float *x, const int *rows, int n, int d, const float *c, int k,
                     const float *p, int r, const float *pc, const float *cc, float rel,
                     float slack, float *px, float *lb, int *labels, float *dist, int *work,
                     float *sums, float *counts) {
  double total = 0;
  int computed = 0;
  for (int i0 = 0; i0 < n; i0 += TILE) {
    int tile = n - i0 < TILE ? n - i0 : TILE;
    dots_rows(rows ? x : x + i0 * d, rows ? rows + i0 : 0, tile, p, r, d, px, px + TILE * r);
    for (int t = 0; t < tile; t++) {
      int i = i0 + t;
      const float *q = row_at(x, rows, i, d);
      lower_bounds(px + t * r, pc, k, r, lb);
      // No finite bound (a row so far away that every bound overflows, or NaN): start from
      // centroid 0; the distances then tell, and NaN is reported by the caller.
      int bi = next_smallest(lb, k);
      if (bi < 0) bi = 0;
      lb[bi] = INF;
      float best = sqdist(q, c + bi * d, d);
      computed++;
      for (;;) {
        int j = next_smallest(lb, k);
        if (j < 0) break;
        float bound = best * (1.0f + rel) + slack;
        if (lb[j] > bound) break;
        lb[j] = INF;
        if (cc && cc[bi * k + j] > 4.0f * bound) continue;
        float dj = sqdist(q, c + j * d, d);
        computed++;
        if (dj < best || (dj == best && j < bi)) {
          best = dj;
          bi = j;
        }
      }
      labels[i] = bi;
      dist[i] = best;
      total += best;
      if (sums) add_row(q, d, bi, sums, counts);
    }
  }
  work[0] += computed;
  return total;
}

/*
 * The trials of one k-means++ step, in one pass over the rows: for candidate t (row t of
 * cands, trials x d) and every row i, the smaller of the row's current squared distance
 * closest[i] and its distance to the candidate goes to out[t * n + i], and their sum to
 * pots[t] (float64). A row whose nearest chosen centre a = nearest[i] lies at
 * ||cand_t - c_a||^2 >= 4 closest[i] (ccand[t * k + a]) is not measured against that
 * candidate: it cannot be nearer. Tests use closest * (1 + rel) + slack. Each row is read once
 * for all candidates. work[0] is increased by the number of distances computed.
 */
EXPORT(kpp_trials)
void kpp_trials(const float *x, int n, int d, const float *cands, int trials, int k,
                const float *closest, const int *nearest, const float *ccand, float rel,
                float slack, float *out, double *pots, int *work) {
  int computed = 0;
  for (int t = 0; t < trials; t++) pots[t] = 0;
  for (int i = 0; i < n; i++) {
    const float *q = x + i * d;
    float have = closest[i];
    float bound = have * (1.0f + rel) + slack;
    int a = nearest[i];
    for (int t = 0; t < trials; t++) {
      float v = have;
      if (!(ccand[t * k + a] > 4.0f * bound)) {
        float dj = sqdist(q, cands + t * d, d);
        computed++;
        if (dj < have) v = dj;
      }
      out[t * n + i] = v;
      pots[t] += v;
    }
  }
  work[0] += computed;
}

/* Squared distances between all pairs of k rows of c, written to cc (k x k, zero diagonal). */
EXPORT(pairwise_sqdist)
void pairwise_sqdist(const float *c, int k, int d, float *cc) {
  for (int a = 0; a < k; a++) {
    cc[a * k + a] = 0;
    for (int b = a + 1; b < k; b++) {
      float v = sqdist(c + a * d, c + b * d, d);
      cc[a * k + b] = v;
      cc[b * k + a] = v;
    }
  }
}

/* Squared distances of n rows of x to m rows of y: out[i * m + j]. */
EXPORT(cross_sqdist)
void cross_sqdist(const float *x, int n, const float *y, int m, int d, float *out) {
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < m; j++) out[i * m + j] = sqdist(x + i * d, y + j * d, d);
  }
}

/*
 * Sum of `count` floats (a multiple of 16 is fastest). Reads memory as fast as a kernel can,
 * so a pass of it over the codes is the floor for any pass over them; used by benchmarks.
 */
EXPORT(stream_sum)
float stream_sum(const float *x, int count) {
  v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
  int i = 0;
  for (; i + 16 <= count; i += 16) {
    s0 = wasm_f32x4_add(s0, wasm_v128_load(x + i));
    s1 = wasm_f32x4_add(s1, wasm_v128_load(x + i + 4));
    s2 = wasm_f32x4_add(s2, wasm_v128_load(x + i + 8));
    s3 = wasm_f32x4_add(s3, wasm_v128_load(x + i + 12));
  }
  float s = hsum(wasm_f32x4_add(wasm_f32x4_add(s0, s1), wasm_f32x4_add(s2, s3)));
  for (; i < count; i++) s += x[i];
  return s;
}
