import { tf, initBackend, maxPool2x2Grad } from './src/index.js';
await initBackend('wasm');
for (const b of ['cpu', 'wasm']) {
  await tf.setBackend(b);
  const x = tf.tensor4d([5, 1, 5, 7, 5, 7, 5, 2], [1, 2, 2, 2]);
  const w = tf.transpose(tf.reshape(x, [1, 2, 1, 2, 2]), [0, 2, 4, 1, 3]);
  console.log(b, 'win', Array.from(w.dataSync()));
  const am = tf.argMax(tf.reshape(w, [2, 4]), 1); console.log('argmax', Array.from(am.dataSync()));
  console.log('onehot', Array.from(tf.oneHot(am, 4, 1, 0, 'float32').dataSync()));
  console.log('grad', Array.from(maxPool2x2Grad(x, tf.ones([1,1,1,2])).dataSync()));
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid')))(x);
  console.log('tf.grad', Array.from(g.dataSync()));
}
