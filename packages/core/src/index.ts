export * from './contract.js';
export * from './errors.js';
export * from './freezer.js';
export * from './reporter.js';
export * from './slug.js';
export * from './state/atomic.js';
export * from './state/store.js';
export * from './manifest/schema.js';
