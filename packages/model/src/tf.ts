/**
 * The single TensorFlow.js instance used by imgcluster. Importing the wasm package registers
 * the 'wasm' backend (and makes it the preferred one), so callers must pick a backend with
 * initBackend() before running any op.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export { tf };
