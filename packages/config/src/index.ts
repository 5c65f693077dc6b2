export * from './env.js';
export * from './run-spec.js';
export * from './keys.js';
