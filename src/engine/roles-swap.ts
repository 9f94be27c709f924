/** swap roles (see roles.ts), and the planner/initializer registration of its arena regions. */
import type { RoleFn } from './roles.js';

export const roles: Record<string, RoleFn> = {};
