/** Read times of Fashion-MNIST; run: node --import tsx packages/datasets/test/bench.ts */
import { balancedSubset, readFashionMnist, subsetFashionMnist } from '../src/index.js';

async function time<T>(label: string, fn: () => Promise<T> | T): Promise<T> {
  const start = performance.now();
  const out = await fn();
  console.log(`${label}: ${(performance.now() - start).toFixed(0)} ms`);
  return out;
}

await time('train, limit 2000', () => readFashionMnist({ split: 'train', limit: 2000 }));
await time('test', () => readFashionMnist({ split: 'test' }));
const train = await time('train', () => readFashionMnist({ split: 'train' }));
await time('all', () => readFashionMnist({ split: 'all' }));
await time('balancedSubset 2000 + subsetFashionMnist', () =>
  subsetFashionMnist(train, balancedSubset(train.labels, 2000, 1)),
);
