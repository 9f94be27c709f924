/**
 * V8 settings for kiolab's hot paths, set by the command (src/cli/main.ts) and `npm run bench`
 * before any machine starts. V8's flags are the process's: every worker started afterwards
 * compiles with them.
 *
 * kiolab's hit paths are chains of small functions (bound fields, lock and bio helpers) so that
 * they read like the kernel's. TurboFan inlines callees into an optimized function only up to a
 * cumulative budget of bytecode (920 bytes in Node 20); past it every helper stays a call, with
 * its frame, argument checks and reloaded receivers. The budget below lets a whole 4 KiB
 * BootCache hit or getblk+bqrelse inline (measured with callgrind: 10,246 → 9,366 instructions
 * a hit; `npm run bench`: a 4 KiB hit ~4.1x → ~3.4x a raw copy, getblk+bqrelse ~5.5x → ~4.2x).
 * It changes how V8 compiles, never what the model does.
 */
import { setFlagsFromString } from 'node:v8';

/** The cumulative inlining budget kiolab asks for (V8's `--max-inlined-bytecode-size-cumulative`). */
export const INLINE_BUDGET = 4000;

const FLAG = '--max-inlined-bytecode-size-cumulative';

let tuned = false;

/**
 * Raise V8's cumulative inlining budget to INLINE_BUDGET, unless node was started with the flag
 * (`node --max-inlined-bytecode-size-cumulative=N`: the user's value stands). Idempotent. Call
 * before the hot paths run; code optimized earlier keeps the budget it was compiled with.
 */
export function tuneV8(): void {
  if (tuned) return;
  tuned = true;
  if (process.execArgv.some((a) => a === FLAG || a.startsWith(`${FLAG}=`))) return;
  setFlagsFromString(`${FLAG}=${INLINE_BUDGET}`);
}
