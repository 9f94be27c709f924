/**
 * The race catalogue (docs/RACES.md is generated from it): every historical race kiolab knows, under the name
 * users type (`kiolab race <scenario> --bug <name>`), with its subsystem, the real bug it comes
 * from, how kiolab detects it, and whether the switch is implemented in today's layers.
 * A subsystem implements a switch by reading `bugs.enabled(name)` (./switch.ts) in its code path
 * and registering a race scenario that lists the switch (./scenario.ts); then flip `implemented`.
 */
export type Subsystem = 'bootcache' | 'bufcache' | 'bio' | 'swap' | 'user';

export interface BugInfo {
  name: string;
  subsystem: Subsystem;
  /** One line: what the variant does wrong. */
  description: string;
  /** The real bug and its evidence grade (A fix, B report, C the reference's own comments). */
  reference: string;
  /** How kiolab sees it. */
  detection: string;
  implemented: boolean;
  /**
   * The seed (the reference source of its subsystem) has this variant's code: kiolab's default
   * fixes it, and `bench --as-seed` turns it on. False: the variant is another version's or
   * another kernel's, and the default is the seed's code. Three are harmless in the seed only
   * because of a lock kiolab's parallel model does not take there: bc-terminate-no-interlock and
   * bc-drain-order (every caller holds kernel_flock in the kext), swap-busy-flag-race (splbio
   * on a uniprocessor). Read against the references line by line (issue 16's note).
   */
  seed?: boolean;
}

const B = (name: string, subsystem: Subsystem, description: string, reference: string, detection: string, implemented = false, seed = false): BugInfo => ({
  name, subsystem, description, reference, detection, implemented, seed,
});

export const BUGS: readonly BugInfo[] = [
  B('bc-terminate-no-interlock', 'bootcache', 'terminate tests IOBUSY, then sleeps on the flags word without an interlock', 'BootCache <= 64, fixed in 85 with a reader count under a lock [A]', 'lost wakeup: sleeper timed out with its condition already false; EBUSY with no reader', true, true),
  B('bc-inline-hitrate-terminate', 'bootcache', 'the hit-rate cutoff terminates readahead and cache inline while its caller is still counted in c_strategycalls, so the drain waits for that caller', 'BootCache before the seed: kext.c drops c_strategycalls before BC_strategy_bypass because "the bypass may try to terminate the cache (which will block and ultimately fail if the busy count is not zero)" [C]', 'wait-for cycle, or c_strategycalls never drains', true),
  B('bc-write-discard-early-break', 'bootcache', 'write invalidation stops at the first neighbour extent that discards 0 blocks', 'BootCache, fixed in 118 [A]', 'device oracle: a cache hit differs from the device', true, true),
  B('bc-write-trylock-skip', 'bootcache', 'write invalidation neither discards nor aborts an extent it failed to try-lock', 'BootCache 110.2 related [A]', 'device oracle: stale data served', true),
  B('bc-drain-order', 'bootcache', 'strategy checks CACHEACTIVE before counting itself in c_strategycalls', 'BootCache reference comments [C]', 'poisoned (freed) extent touched', true, true),
  B('bc-abort-no-wakeup', 'bootcache', 'teardown marks extents CE_ABORTED without waking their sleepers', 'BootCache reference comments [C]', 'sleeper with its condition true past a grace period', true),
  B('bc-history-no-recheck', 'bootcache', 'history cluster add drops the lock to allocate and relinks without rechecking', 'BootCache <= 64 [C]', 'history entries written != read back; index past capacity', true),
  B('vfs-runningbuf-lockholder', 'bufcache', 'I/O charged to runningbufspace before taking a second lock whose holder waits in waitrunningbufspace', 'FreeBSD 6c8b634f [A]', 'wait-for cycle; running space > 0 with nothing in flight', true),
  B('vfs-runningbuf-leak', 'bufcache', 'a completion path skips runningbufwakeup', 'FreeBSD D39263 [A]', 'runningbufspace != sum of b_runningbufspace; liveness watchdog', true),
  B('vfs-getblk-no-recheck', 'bufcache', 'getblk does not recheck (vp, loffset) after taking the buffer lock', "FreeBSD D25898; DragonFly's getblk comment [A]", 'returned buffer identity != request; oracle mismatch', true),
  B('vfs-findblk-no-ref', 'bufcache', 'findblk takes no reference, so getnewbuf recycles the buffer being locked', 'FreeBSD/DragonFly findblk [A]', 'identity check; two hashed buffers for one key', true),
  B('vfs-biodone-early-done', 'bio', 'BIO_DONE is published (and the waiter woken) before bpdone finishes', 'FreeBSD bufdone/B_DONE [B]', "waiter sees BIO_DONE while b_cmd != DONE (biowait's contract check)", true),
  B('vfs-biowait-no-interlock', 'bio', 'biowait checks BIO_DONE, then sets BIO_WANT and sleeps without tsleep_interlock or a CAS on the same word', 'FreeBSD/DragonFly biowait [B]', 'lost wakeup: sleeper on the bio with BIO_DONE already set', true),
  B('vfs-bufdaemon-no-interlock', 'bufcache', 'the daemon resets bd_request and sleeps without an interlock, missing a kick', 'FreeBSD D14705 family [B]', 'dirty space above the high mark while the daemon sleeps', true),
  B('vfs-bdwait-no-recheck', 'bufcache', 'bd_wait does not recheck bd_wake_index before sleeping', 'DragonFly bug 3408 family, "flstik" [B]', 'bytes signalled >= bytes awaited while sleepers remain', true),
  B('vfs-bio-track-double-release', 'bio', 'biodone does not clear bio_track, so a later completion of the reused bio releases the track again', "DragonFly biodone's bio_track handling [C]", 'bio_track count underflow ("bio_track_rel: bad count") or bio_track_wait returning with I/O in flight', true),
  B('vfs-bundirty-at-submit', 'bufcache', 'the buffer is marked clean when the write is issued rather than in bpdone', 'vfs_bio reference comments [C]', 'fsync oracle: a flush returned before an earlier write reached the device', true),
  B('vfs-flush-no-marker', 'bufcache', 'flushbufqueues walks on after dropping the queue lock, without a marker or B_DELWRI recheck', 'vfs_bio reference comments [C]', 'queue/flag invariant; write of a non-dirty buffer', true),
  B('vfs-needsbuffer-no-interlock', 'bufcache', 'getnewbuf sets needsbuffer and sleeps without interlock; brelse wakes in between', 'vfs_bio reference comments [C]', 'lost wakeup: sleeper with its condition true', true),
  B('swap-off-stale-slots', 'swap', 'swap_off snapshots slots, drops the lock, pages in without rechecking', 'FreeBSD r358024 [A]', 'slot generation / page oracle mismatch', true),
  B('swap-vx-busy-missing', 'swap', 'the parent transfer is not marked busy while children are issued', 'vnd/uvm_swap history [B]', 'parent completed twice; freed transfer touched', true),
  B('swap-busy-flag-race', 'swap', 'the SWF_BUSY start-recursion flag is a plain read-test-set', 'NetBSD uvm_swap "XXXAD locking" [C]', 'swd_active > swd_maxactive, or a stranded queue', true, true),
  B('swap-iodone-inline', 'swap', 'child completion runs sw_reg_start inline in the completion context', 'NetBSD uvm_swap [B]', 'assertion: sleep in a completion context', true, true),
  B('swap-off-inflight', 'swap', 'the swap device is torn down while child I/O is still active', 'NetBSD/FreeBSD swap [B/C]', 'poisoned device slot touched', true, true),
];

/** Switches registered by user modules (`registerBugSwitch`), after the catalogue. */
const userBugs: BugInfo[] = [];

/**
 * Register a bug switch of your own code (a user module's lock or protocol): the historical or
 * suspected variant that `bugs.enabled(name)` turns on. Its name must not be a catalogue
 * switch's or another module's.
 */
export function registerBugSwitch(b: { name: string; description: string; reference?: string; detection?: string }): void {
  if (typeof b?.name !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/i.test(b.name)) {
    throw new TypeError(`registerBugSwitch: a switch name is letters, digits, '.', '_' and '-', got ${JSON.stringify(b?.name)}`);
  }
  if (BUGS.some((x) => x.name === b.name)) throw new RangeError(`registerBugSwitch: ${b.name} is a switch of kiolab's race catalogue`);
  const had = userBugs.find((x) => x.name === b.name);
  const info: BugInfo = { name: b.name, subsystem: 'user', description: b.description, reference: b.reference ?? 'user module', detection: b.detection ?? 'the scenario\'s checks and the generic detectors', implemented: true };
  if (had) {
    if (had.description !== info.description) throw new RangeError(`registerBugSwitch: switch ${b.name} is registered twice`);
    return;
  }
  userBugs.push(info);
}

/** The catalogue, then the switches of user modules. */
export function allBugs(): BugInfo[] {
  return [...BUGS, ...userBugs];
}

export function bugInfo(name: string): BugInfo {
  const b = allBugs().find((x) => x.name === name);
  if (!b) throw new RangeError(`race: unknown bug switch ${JSON.stringify(name)}; known: ${allBugs().map((x) => x.name).join(', ')}`);
  return b;
}

/** The catalogue as rows for `kiolab list bugs` (the reports engineer's `list` may print these). */
export function bugRows(): { name: string; subsystem: string; implemented: string; description: string; reference: string; detection: string }[] {
  return allBugs().map((b) => ({ ...b, implemented: b.implemented ? 'yes' : 'no' }));
}

/** The catalogue as a text table. */
export function bugTable(opts: { verbose?: boolean } = {}): string {
  const w = Math.max(...allBugs().map((b) => b.name.length));
  const lines = [`${'switch'.padEnd(w)}  ${'subsystem'.padEnd(9)}  impl  description`];
  for (const b of allBugs()) {
    lines.push(`${b.name.padEnd(w)}  ${b.subsystem.padEnd(9)}  ${b.implemented ? 'yes ' : 'no  '}  ${b.description}`);
    const pad = `${''.padEnd(w)}  ${''.padEnd(9)}        `;
    if (opts.verbose) lines.push(`${pad}ref: ${b.reference}`, `${pad}detected by: ${b.detection}`);
    if (b.seed) lines.push(`${pad}seed: the seed as written has this code (kiolab's default is the fixed code; --as-seed turns it on)`);
  }
  const n = BUGS.filter((b) => b.implemented).length;
  const seeds = BUGS.filter((b) => b.seed).length;
  lines.push(`${BUGS.length} switches, ${n} implemented${n < BUGS.length ? ' (the others land with their subsystems)' : ''}${userBugs.length ? `; ${userBugs.length} more from user modules` : ''}; ${seeds} are the seeds' own code (--as-seed)`);
  return lines.join('\n');
}
