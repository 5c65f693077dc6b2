import { fit } from '@imgcluster/kmeans';
import { ari, clusterAccuracy, nmi } from '@imgcluster/metrics';
import type { FashionMnist } from '@imgcluster/datasets';

/** Mini-batch k-means on raw pixels (scaled to [0, 1]) of the same images: the reference. */
export function rawPixelBaseline(data: FashionMnist, indices: number[], k: number) {
  const dim = 28 * 28;
  const points = new Float32Array(indices.length * dim);
  indices.forEach((i, j) => {
    for (let p = 0; p < dim; p++) points[j * dim + p] = data.images[i * dim + p] / 255;
  });
  const started = Date.now();
  const result = fit(points, indices.length, dim, { k, seed: 0, batchSize: 1024, maxSteps: 500 });
  const seconds = (Date.now() - started) / 1000;
  const truth = indices.map((i) => data.labels[i]);
  const pred = Array.from(result.labels);
  return {
    nmi: nmi(truth, pred),
    ari: ari(truth, pred),
    accuracy: clusterAccuracy(truth, pred),
    seconds,
  };
}
