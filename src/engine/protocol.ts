/**
 * The one protocol between the main thread and workers. A task is handed to a piscina worker;
 * the worker attaches, posts READY on its port, waits for the machine's start word, runs its
 * role, and resolves the task with the role's result.
 */
import type { MessagePort } from 'node:worker_threads';
import type { MachineSpec } from './spec.js';

export interface RoleTask {
  sab: SharedArrayBuffer;
  spec: MachineSpec;
  cpu: number;
  role: string;
  args: unknown;
  port: MessagePort;
  /** The worker modules to import before attaching (engine/roles.ts), in order. */
  modules: string[];
  /** The planners the main thread planned the arena with: the worker must have the same. */
  planners: string[];
}

export type WorkerMessage =
  | { type: 'ready'; cpu: number }
  | { type: 'log'; cpu: number; text: string }
  | { type: 'progress'; cpu: number; data: unknown };

export interface RoleResult {
  cpu: number;
  role: string;
  value: unknown;
}
