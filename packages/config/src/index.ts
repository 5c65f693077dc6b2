export * from './env.js';
export * from './run-spec.js';
export * from './keys.js';
export * from './k-setting.js';
export * from './presets.js';
