export { DatasetError, type DatasetErrorCode } from './errors.js';
export { IDX_MAGIC, parseIdx, readIdxFile, type IdxFile } from './idx.js';
export {
  DEFAULT_FASHION_MNIST_DIR,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_SIDE,
  fashionMnistImage,
  readFashionMnist,
  subsetFashionMnist,
  type FashionMnist,
  type ReadFashionMnistOptions,
} from './fashion-mnist.js';
export { balancedSubset, seededRandom } from './balanced.js';
