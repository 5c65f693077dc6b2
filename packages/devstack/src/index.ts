export * from './servers.js';
export { startStack, type LocalStack, type Replicas, type StackOptions } from './stack.js';
export * from './fault-proxy.js';
export { uploadFashionMnist, type UploadedSet } from './fashion-upload.js';
