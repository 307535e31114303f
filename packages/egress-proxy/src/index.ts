export * from './ca.js';
export * from './config.js';
export * from './log.js';
export * from './plan.js';
export * from './policy.js';
export * from './proxy.js';
export * from './sidecar.js';
