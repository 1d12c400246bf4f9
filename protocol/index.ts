export * from './errors.js';
export * from './ids.js';
export * from './topics.js';
export * from './payloads.js';
export * from './signing.js';
export * from './contract.js';
export * from './codec.js';
