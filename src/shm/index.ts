export * from './arena.js';
export * from './layout.js';
export * from './view.js';
export * from './access.js';
