export * from './names.js';
export * from './connection.js';
export * from './errors.js';
export * from './run-store.js';
export * from './worker.js';
export * from './resume.js';
