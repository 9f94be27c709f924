/** Kernel return values, and an error class that carries one. */
export const EPERM = 1;
export const ENOENT = 2;
export const EIO = 5;
export const ENXIO = 6;
export const ENOTBLK = 15;
export const ENOMEM = 12;
export const EBUSY = 16;
export const EINVAL = 22;
export const EWOULDBLOCK = 35;
export const ETIMEDOUT = 60;
export const ENOLCK = 77;

export const ERRNO_NAMES: Record<number, string> = {
  [EPERM]: 'EPERM',
  [ENOENT]: 'ENOENT',
  [EIO]: 'EIO',
  [ENXIO]: 'ENXIO',
  [ENOTBLK]: 'ENOTBLK',
  [ENOMEM]: 'ENOMEM',
  [EBUSY]: 'EBUSY',
  [EINVAL]: 'EINVAL',
  [EWOULDBLOCK]: 'EWOULDBLOCK',
  [ETIMEDOUT]: 'ETIMEDOUT',
  [ENOLCK]: 'ENOLCK',
};

export function errnoName(e: number): string {
  return ERRNO_NAMES[e] ?? (e === 0 ? 'OK' : `errno ${e}`);
}

/** An error with a stable kernel code (`err.code === 'EBUSY'`, `err.errno === 16`). */
export class KernelError extends Error {
  readonly code: string;
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(`${message} (${errnoName(errno)})`);
    this.code = errnoName(errno);
    this.name = 'KernelError';
  }
}

/** A broken contract: a lock not held, a lock released by a cpu that does not own it. */
export class ContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContractError';
  }
}
