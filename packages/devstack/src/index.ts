export * from './servers.js';
export { startStack, type LocalStack, type Replicas, type StackOptions } from './stack.js';
export * from './fault-proxy.js';
export { uploadFashionMnist, type UploadedSet } from './fashion-upload.js';
export {
  encodeSynthetic,
  renderSynthetic,
  syntheticFamily,
  syntheticFormat,
  syntheticKey,
  uploadSynthetic,
  SYNTHETIC_FAMILIES,
  SYNTHETIC_MAX_IMAGES,
  SYNTHETIC_VERSION,
  SyntheticArgumentError,
  SyntheticPrefixInUseError,
  type SyntheticFamily,
  type SyntheticImage,
  type SyntheticOptions,
  type SyntheticProgress,
  type SyntheticSet,
  type SyntheticTarget,
} from './synthetic.js';
