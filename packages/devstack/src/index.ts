export * from './servers.js';
export { startStack, type LocalStack, type Replicas } from './stack.js';
export { uploadFashionMnist, type UploadedSet } from './fashion-upload.js';
