/** Throughput of the PNG codec paths; run: node --import tsx packages/images/test/bench.ts */
import { encodePng, preprocessImage } from '../src/index.js';
import { noise } from './fixtures.js';

const COUNT = 1000;

async function rate(label: string, inFlight: number, run: (i: number) => Promise<unknown>) {
  const start = performance.now();
  for (let i = 0; i < COUNT; i += inFlight) {
    await Promise.all(Array.from({ length: Math.min(inFlight, COUNT - i) }, (_, k) => run(i + k)));
  }
  const perSecond = COUNT / ((performance.now() - start) / 1000);
  console.log(`${label}, ${inFlight} in flight: ${perSecond.toFixed(0)} img/s`);
}

const grey = noise(28, 28 * 50).subarray(0, 28 * 28 * 50);
const pngs: Buffer[] = [];
for (let i = 0; i < 50; i++) {
  pngs.push(await encodePng(grey.subarray(i * 784, (i + 1) * 784), 28, 28, 1));
}
await rate('encodePng 28x28x1', 1, (i) => encodePng(grey.subarray(0, 784), 28, 28, 1));
for (const [size, channels] of [
  [32, 1],
  [64, 3],
] as const) {
  for (const inFlight of [1, 4]) {
    await rate(`preprocess 28x28 PNG -> ${size}x${size}x${channels}`, inFlight, (i) =>
      preprocessImage(pngs[i % pngs.length], { size, channels }),
    );
  }
}
