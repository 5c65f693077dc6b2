/**
 * @imgcluster/model: backend selection, corrected gradients, the convolutional autoencoder,
 * image ↔ code conversion and in-memory model files. Services must use the exported `tf`
 * so that every package shares one TensorFlow.js instance and backend.
 */
export { tf } from './tf.js';
export * from './errors.js';
export * from './backend.js';
export * from './gradients.js';
export * from './conv-kernels.js';
export * from './autoencoder.js';
export * from './codec.js';
export * from './io.js';
