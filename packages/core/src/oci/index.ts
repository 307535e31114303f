export * from './layout.js';
export * from './registry.js';
