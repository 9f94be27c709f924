export * from './errno.js';
export * from './hooks.js';
export * from './layouts.js';
export * from './snapshot.js';
export * from './sync.js';
