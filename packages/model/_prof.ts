import { tf, initBackend, buildAutoencoder, trainStep } from './src/index.js';
await initBackend((process.argv[2] ?? 'wasm') as 'wasm');
const { autoencoder } = buildAutoencoder({ imageSize: 32, channels: 1 });
const x = tf.randomUniform([64, 32, 32, 1]) as tf.Tensor4D;
for (let i = 0; i < 3; i++) await trainStep(autoencoder, x);
const prof = await tf.profile(async () => { await trainStep(autoencoder, x); });
const agg = new Map<string, [number, number]>();
let total = 0;
for (const k of prof.kernels) { const t = Number(k.kernelTimeMs) || 0; total += t; const a = agg.get(k.name) ?? [0, 0]; a[0] += t; a[1]++; agg.set(k.name, a); }
console.log('total kernel ms', total.toFixed(1));
for (const [n, [t, c]] of [...agg].sort((a, b) => b[1][0] - a[1][0]).slice(0, 15)) console.log(n.padEnd(28), t.toFixed(2), c);
const t0 = performance.now(); for (let i = 0; i < 10; i++) await trainStep(autoencoder, x); console.log('step ms', ((performance.now() - t0) / 10).toFixed(1));
