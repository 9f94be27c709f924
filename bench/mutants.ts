/**
 * The mutation benchmark (`npm run bench`, name `mutants`): kiolab's own mutation score. Each
 * mutant below is a concurrency bug put into the real sources by one textual patch — a wakeup
 * before the state it publishes, a missing spinlock, a recheck removed, a counter updated outside
 * its lock, an ABBA lock order. None of them is in the race catalogue (src/race/bugs.ts): the
 * question is how many bugs nobody planted a switch for the race lab catches, in which mode, how
 * fast and with which detector.
 *
 * How a mutant runs (nothing in src/ knows about mutants):
 *  1. the built tree (dist/src, dist/workers, dist/bench, dist/examples) is copied to a scratch
 *     folder, once, with package.json and a link to node_modules beside it;
 *  2. the mutant's source file is patched (its search string must occur exactly once, else the
 *     mutant is stale and the benchmark stops, naming it) and compiled alone with
 *     `ts.transpileModule` (the options of bench/noinst.ts) over its .js in the scratch tree;
 *     the modules that declare const enums are recompiled the same way once, so that the enum
 *     objects a file compiled alone refers to exist;
 *  3. `node <scratch>/dist/src/cli/main.js race <scenario> --mode <m> --budget <s> --json` runs
 *     each scenario the mutant lists, in turn, until one reports a failure; the mode's budget is
 *     split evenly between the mutant's scenarios (a stress run that stalled before its harness
 *     began is started again: see `neverBegan`);
 *  4. the original .js is put back.
 * Before any mutant, every scenario the table names runs clean in each mode in the same scratch
 * tree: one that reports a failure makes the benchmark fail (mutant results would mean nothing).
 *
 * Time to detection is the race runner's own elapsed time (its `elapsedMs`: from starting the
 * machine to the end of the run that failed), summed over the scenarios the mode tried first;
 * the start-up of each `race` process (1-3 s on a busy 2-core host) is not in it, but is in the
 * wall-clock totals kept in the details.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import '../workers/index.js'; // the race scenarios (their parts)
import { raceScenario } from '../src/race/scenario.js';
import { REPO_ROOT, readTsconfig, transpileOptions } from './noinst.js';
import { type Figure, formatFigures, registerBenchmark } from './registry.js';

export interface Mutant {
  /** Unique, kebab-case; never a catalogue switch's name. */
  name: string;
  /** The patched source, relative to the repository root (src/...ts). */
  file: string;
  /** Exact text that must occur exactly once in `file`. */
  search: string;
  replace: string;
  /** One line: the concurrency bug the patch introduces. */
  bug: string;
  /** Race scenarios that exercise the patched code, tried in this order. */
  scenarios: string[];
  /**
   * The bug makes two plain accesses of one word unordered (a missing lock, an update moved
   * outside its lock): the data-race detector must name it, both sides, in some mode.
   */
  plainRace?: true;
}

/**
 * The modes, as a user would run them to find an unknown bug: each with the data-race detector
 * on (`--detect race`) besides the detectors that are always on.
 */
export const MODES = ['explore', 'bounded', 'stress'] as const;
export type Mode = (typeof MODES)[number];
const MODE_ARGS: Record<Mode, string[]> = {
  explore: ['--mode', 'explore', '--detect', 'race'],
  bounded: ['--mode', 'bounded', '--detect', 'race'],
  stress: ['--mode', 'stress', '--detect', 'race'],
};
/** The serialized modes: "explore or bounded" is one figure (either is replayable and can prove). */
const SERIAL: readonly Mode[] = ['explore', 'bounded'];

const M = (name: string, file: string, bug: string, scenarios: string[], search: string, replace: string, plainRace?: true): Mutant => ({ name, file, search, replace, bug, scenarios, ...(plainRace ? { plainRace } : {}) });

/** The mutant table. */
export const MUTANTS: readonly Mutant[] = [
  // ---------------------------------------------------------------- src/sync
  M(
    'sync-wakeup-skips-cpu0',
    'src/sync/sleepq.ts',
    'wakeup scans the cpus from 1 (an off-by-one against the 1-based owner words): a sleeper on cpu 0 is never woken',
    ['biowait', 'bdwait'],
    `    let n = 0;
    const wchan = this.td_wchan;
    for (let c = 0; c < this.ncpu; c++) {`,
    `    let n = 0;
    const wchan = this.td_wchan;
    for (let c = 1; c < this.ncpu; c++) {`,
  ),
  M(
    'sync-unlock-no-notify',
    'src/sync/locks.ts',
    'unlock clears the futex word with a plain store and never notifies: a waiter already asleep in lock() stays asleep',
    ['torture-mtx', 'getblk-recycle', 'swap-start'],
    `    if (this.lk_word.exchange(lk, 0) === 2) this.futex_wake(lk);`,
    `    this.lk_word.store(lk, 0);`,
  ),
  M(
    'sync-wakeup-no-kick',
    'src/sync/sleepq.ts',
    'wakeup takes the sleeper off its channel and bumps its wake generation but never notifies the futex: a sleeper already in Atomics.wait sleeps on',
    ['torture-sleep', 'biowait'],
    `    Atomics.add(this.i32, g, 1);
    this.futex_wake_thread(td);`,
    `    Atomics.add(this.i32, g, 1);`,
  ),
  M(
    'sync-sleep-until-no-recheck',
    'src/sync/sleepq.ts',
    'tsleep_until interlocks and sleeps without testing its condition again: a wakeup between the first test and the interlock is lost',
    ['torture-sleep', 'swap-off', 'swap-off-io'],
    `      this.tsleep_interlock(ident);
      if (done()) {
        this.tsleep_remove();
        return;
      }
      this.tsleep(ident, PINTERLOCKED, wmesg, timeoutMs);`,
    `      this.tsleep_interlock(ident);
      this.tsleep(ident, PINTERLOCKED, wmesg, timeoutMs);`,
  ),
  M(
    'sync-spin-test-then-set',
    'src/sync/locks.ts',
    'a contended spin_lock takes the lock with a plain store once it sees it free (test, then set) instead of a CAS: two spinners can both get in',
    ['torture-spin', 'swap-start', 'flushbufqueues'],
    `      if (word.cas(lk, w, shared ? w + TOK_INCR : TOK_EXCLUSIVE) === w) break;`,
    `      word.store(lk, shared ? w + TOK_INCR : TOK_EXCLUSIVE);
      break;`,
    true,
  ),
  // ---------------------------------------------------------------- src/device
  M(
    'bio-wakeup-before-done',
    'src/device/bio.ts',
    'biodone_sync wakes the biowait sleeper before its CAS publishes BIO_DONE: the sleeper re-registers BIO_WANT and sleeps past the completion',
    ['biowait'],
    `      if (F.cas(bio, flags, nflags) === flags) {
        if (flags & BIO_WANT) this.sync.wakeup(bio);
        break;
      }`,
    `      if (flags & BIO_WANT) this.sync.wakeup(bio);
      if (F.cas(bio, flags, nflags) === flags) break;`,
  ),
  M(
    'bio-track-release-drops-want',
    'src/device/bio.ts',
    'the last bio_track release takes the fast path even when a waiter set BK_WANT: the want is cleared and nobody is woken',
    ['bio-track', 'bufcache-fsync'],
    `    if (active === 1 && A.cas(track, 1, 0) === 1) return;`,
    `    if ((active & BK_COUNT) === 1 && A.cas(track, active, 0) === active) return;`,
  ),
  M(
    'bio-track-wait-or-want',
    'src/device/bio.ts',
    'bio_track_wait sets BK_WANT with a plain OR instead of a CAS on the count it read: a release to zero in between wakes nobody, and the waiter sleeps on a finished track',
    ['bio-track', 'bufcache-fsync'],
    `      this.sync.tsleep_interlock(track);
      if (A.cas(track, active, active | BK_WANT) === active) {`,
    `      this.sync.tsleep_interlock(track);
      A.or(track, BK_WANT);
      if (active !== 0) {`,
  ),
  // ---------------------------------------------------------------- src/bufcache
  M(
    'bufcache-bremfree-no-spinlock',
    'src/bufcache/core.ts',
    "bremfree unlinks the buffer from its queue without the queue set's spinlock, racing getnewbuf's scan and brelse's inserts",
    ['getblk-recycle', 'flushbufqueues', 'findblk-recycle'],
    `    const spin = this.spinOf(this.b_qcpu.get(bp));
    this.sync.spin_lock(spin);
    try {
      this.bremfree_locked(bp);
    } finally {
      this.sync.spin_unlock(spin);
    }`,
    `    this.bremfree_locked(bp);`,
    true,
  ),
  M(
    'bufcache-countwakeup-before-clear',
    'src/bufcache/space.ts',
    'bufcountwakeup wakes the getnewbuf sleepers before its CAS clears VFS_BIO_NEED_ANY: a sleeper that rechecks in between sleeps again, and is not woken',
    ['getnewbuf-wait'],
    `    if (flags === 0) break;
    if (nb.cas(g, flags, flags & ~VFS_BIO_NEED_ANY) === flags) {
      bc.sync.wakeup(g + (nb.w << 2));
      break;
    }`,
    `    if (flags === 0) break;
    bc.sync.wakeup(g + (nb.w << 2));
    if (nb.cas(g, flags, flags & ~VFS_BIO_NEED_ANY) === flags) break;`,
  ),
  M(
    'bufcache-getnewbuf-no-ref-recheck',
    'src/bufcache/getnewbuf.ts',
    "getnewbuf no longer rechecks b_refs after brelvp: a findblk that ref'd the header before it was unhashed keeps waiting for a buffer recycled under it",
    ['findblk-recycle', 'getblk-recycle'],
    `      // A findblk() may have ref'd it before our brelvp: its contents are gone, but not reusable yet.
      if (bc.b_refs.load(bp)) {
        F.or(bp, B_INVAL);
        brelse(bc, bp);
        restart = 6;
        break;
      }
`,
    ``,
  ),
  M(
    'bufcache-kernproc-after-strategy',
    'src/bufcache/io.ts',
    'bawrite hands the buffer lock to the kernel (BUF_KERNPROC) after issuing the write: a fast completion releases a lock it does not own yet',
    ['bufcache-fsync', 'bdwait'],
    `  bc.BUF_KERNPROC(bp);
  if (bugs.any && bugs.enabled('vfs-bundirty-at-submit')) bundirtyAtSubmit(bc, bp);
  vn_strategy(bc, bp);
}`,
    `  if (bugs.any && bugs.enabled('vfs-bundirty-at-submit')) bundirtyAtSubmit(bc, bp);
  vn_strategy(bc, bp);
  bc.BUF_KERNPROC(bp);
}`,
  ),
  // ---------------------------------------------------------------- src/bootcache
  M(
    'bc-leave-ignores-drain-waiter',
    'src/bootcache/cache.ts',
    "the last caller out of c_strategycalls / c_bypasscalls no longer wakes a fine-mode drain that counted itself in the word (BC_DRAIN_WAITER): the terminator sleeps its whole slice with the count at zero",
    ['bc-teardown', 'bc-drain'],
    `    if ((old & BC_CALLS_MASK) === 1 && old > BC_CALLS_MASK) this.fine_wakeup(this.c);`,
    `    if ((old & BC_CALLS_MASK) === 1 && old === BC_CALLS_MASK) this.fine_wakeup(this.c);`,
  ),
  M(
    'bc-msleep-extent-no-recheck',
    'src/bootcache/cache.ts',
    "msleep_extent no longer tests the extent's flags after the interlock: a write's CE_ABORTED and wakeup (sent without the extent lock) land before the sleep",
    ['bc-write', 'bc-teardown'],
    `    if (this.ceFlags(i) & until) {
      s.tsleep_remove();
      return 0;
    }
`,
    ``,
  ),
  M(
    'bc-history-count-after-unlock',
    'src/bootcache/history.ts',
    "BC_add_history counts the entry it wrote after dropping c_hlock: a caller in between writes the same slot, and the cluster's count passes its capacity",
    ['bc-history'],
    `    bc.hc_entries.set(hc, k + 1);
  } finally {
    bc.sync.spin_unlock(bc.hlock);
  }
}`,
    `  } finally {
    bc.sync.spin_unlock(bc.hlock);
  }
  const last = bc.cluster(bc.c_history.get(c));
  bc.hc_entries.set(last, bc.hc_entries.get(last) + 1);
}`,
    true,
  ),
  // ---------------------------------------------------------------- src/swap
  M(
    'swap-iodone-active-unlocked',
    'src/swap/regio.ts',
    "sw_reg_iodone decrements swd_active (a plain read-modify-write) after dropping swd_tablock, racing sw_reg_start's increment under it",
    ['swap-start', 'swap-xfer'],
    `    S.set(sdp, 'swd_active', S.get(sdp, 'swd_active') - 1);
    this.tabUnlock(sd);
    this.sio.putvndbuf(bp);`,
    `    this.tabUnlock(sd);
    S.set(sdp, 'swd_active', S.get(sdp, 'swd_active') - 1);
    this.sio.putvndbuf(bp);`,
    true,
  ),
  M(
    'swap-iodone-inflight-early',
    'src/swap/regio.ts',
    'sw_reg_iodone leaves swd_inflight (waking the SWAP_OFF drain) before it kicks the queue, its last touch of the swapdev: the device can be torn down under it',
    ['swap-off-io'],
    `    if (bugs.any && bugs.enabled('swap-iodone-inline')) this.sw_reg_start(sd);
    else this.sw_reg_kick(sd);
    if (S.sub(sdp, 'swd_inflight', 1) === 1) s.wakeup(S.addrOf(sdp, 'swd_inflight'));`,
    `    if (S.sub(sdp, 'swd_inflight', 1) === 1) s.wakeup(S.addrOf(sdp, 'swd_inflight'));
    if (bugs.any && bugs.enabled('swap-iodone-inline')) this.sw_reg_start(sd);
    else this.sw_reg_kick(sd);`,
  ),
  M(
    'swap-fault-frees-slot-early',
    'src/swap/pager.ts',
    "fault frees the page's drum slot before reading the page back: another pager's pageout can take the slot and overwrite it first",
    ['swap-xfer', 'swap-start'],
    `    const slot = T.load(a, 'pt_slot');
    if (this.sio.uvm_swap_get(this.frame(p), slot) !== VM_PAGER_OK) return this.sio.lastError || EIO;
    const bad = this.verify(p);
    this.swap.uvm_swap_free(slot, 1);`,
    `    const slot = T.load(a, 'pt_slot');
    this.swap.uvm_swap_free(slot, 1);
    if (this.sio.uvm_swap_get(this.frame(p), slot) !== VM_PAGER_OK) return this.sio.lastError || EIO;
    const bad = this.verify(p);`,
  ),
  M(
    'swap-abba-start-under-tablock',
    'src/swap/regio.ts',
    "sw_reg_start issues each child (VOP_STRATEGY takes the vnode lock) while holding swd_tablock, against vn_unlock's order vnode lock -> swd_tablock (ABBA)",
    ['swap-start', 'swap-xfer'],
    `    S.set(sdp, 'swd_busy', 1);
    for (let bp = this.dequeue(sdp); bp !== 0; bp = this.dequeue(sdp)) {
      this.tabUnlock(sd);
      this.VOP_STRATEGY(sd, bp, held);
      this.tabLock(sd, 'sw_reg_start');
    }`,
    `    S.set(sdp, 'swd_busy', 1);
    for (let bp = this.dequeue(sdp); bp !== 0; bp = this.dequeue(sdp)) this.VOP_STRATEGY(sd, bp, held);`,
  ),
];

// ------------------------------------------------------------------ patching

/** How many times `needle` occurs in `hay` (non-overlapping). */
export function occurrences(hay: string, needle: string): number {
  if (needle === '') return 0;
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** The mutant's source file as it is in the repository. */
export function originalSource(m: Mutant, root = REPO_ROOT): string {
  return readFileSync(join(root, m.file), 'utf8');
}

/**
 * The mutant's patched source. Throws, naming the mutant, when its search string does not occur
 * exactly once (a stale mutant: the source changed under it).
 */
export function patchedSource(m: Mutant, root = REPO_ROOT): string {
  const src = originalSource(m, root);
  const n = occurrences(src, m.search);
  if (n !== 1) throw new Error(`mutant ${m.name} is stale: its search string occurs ${n} times in ${m.file} (exactly once expected); update the mutant to the source`);
  const i = src.indexOf(m.search);
  return src.slice(0, i) + m.replace + src.slice(i + m.search.length);
}

/** Names of the mutants whose search string does not occur exactly once, with the count. */
export function staleMutants(mutants: readonly Mutant[] = MUTANTS, root = REPO_ROOT): { name: string; file: string; count: number }[] {
  return mutants.map((m) => ({ name: m.name, file: m.file, count: existsSync(join(root, m.file)) ? occurrences(originalSource(m, root), m.search) : 0 })).filter((s) => s.count !== 1);
}

/**
 * Type-check each mutant's patched file in the whole program (tsconfig.json), so that a typo in a
 * replacement cannot pass for a detection (a crash). Returns the diagnostics per mutant (empty
 * when it checks). The unchanged files are parsed once and shared between the programs.
 */
export function typecheckMutants(mutants: readonly Mutant[] = MUTANTS): { name: string; errors: string[] }[] {
  const cfg = readTsconfig();
  const base = ts.createCompilerHost(cfg.options);
  const cache = new Map<string, ts.SourceFile | undefined>();
  let patch: { path: string; text: string } | null = null;
  const host: ts.CompilerHost = {
    ...base,
    getSourceFile(fileName, lang, onError, fresh) {
      if (patch && ts.sys.resolvePath(fileName) === patch.path) return ts.createSourceFile(fileName, patch.text, lang, true);
      if (!cache.has(fileName)) cache.set(fileName, base.getSourceFile(fileName, lang, onError, fresh));
      return cache.get(fileName);
    },
  };
  let old: ts.Program | undefined;
  const out: { name: string; errors: string[] }[] = [];
  for (const m of mutants) {
    const path = ts.sys.resolvePath(join(REPO_ROOT, m.file));
    patch = { path, text: patchedSource(m) };
    const p = ts.createProgram({ rootNames: cfg.fileNames, options: cfg.options, host, oldProgram: old });
    const sf = p.getSourceFile(path);
    const diags = sf ? [...p.getSyntacticDiagnostics(sf), ...p.getSemanticDiagnostics(sf)] : [];
    out.push({ name: m.name, errors: sf ? diags.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')) : [`${m.file} is not part of the program`] });
    old = p;
  }
  return out;
}

// ------------------------------------------------------------------ the scratch tree

/** The folders of dist/ a race command needs (examples when present). */
const TREE = ['src', 'workers', 'bench', 'examples'];

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...listTs(p));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/**
 * A copy of the built tree in a scratch folder (`root`; its dist/ mirrors dist/), into which
 * one mutant at a time is compiled. Not in the repository: os.tmpdir().
 */
export class Scratch {
  readonly root: string;
  /** The command's entry point in the scratch tree. */
  readonly cli: string;
  private readonly options: ts.CompilerOptions;
  /** Original compiled text of the files a mutant replaced (to restore). */
  private readonly saved = new Map<string, string>();

  constructor() {
    const dist = join(REPO_ROOT, 'dist');
    if (!existsSync(join(dist, 'src', 'cli', 'main.js'))) throw new Error('mutants: no build in dist/ (run tsc -p . first)');
    this.root = mkdtempSync(join(tmpdir(), 'kiolab-mutants-'));
    for (const d of TREE) if (existsSync(join(dist, d))) cpSync(join(dist, d), join(this.root, 'dist', d), { recursive: true });
    // "type": "module" and the package's own name ('kiolab' resolves to this tree), and its dependencies.
    writeFileSync(join(this.root, 'package.json'), readFileSync(join(REPO_ROOT, 'package.json')));
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(this.root, 'node_modules'), 'dir');
    this.cli = join(this.root, 'dist', 'src', 'cli', 'main.js');
    this.options = transpileOptions();
    // tsc inlined the const enums and emitted no objects for them; a file compiled alone reads
    // them from their module, so those modules get their objects (in addition to everything else).
    for (const dir of ['src', 'workers']) {
      for (const f of listTs(join(REPO_ROOT, dir))) {
        const text = readFileSync(f, 'utf8');
        if (/\bconst enum\b/.test(text)) this.compile(f.slice(REPO_ROOT.length).replace(/^[\\/]/, ''), text);
      }
    }
  }

  private outPath(file: string): string {
    return join(this.root, 'dist', file.replace(/\.ts$/, '.js'));
  }

  /** Compile `text` as source file `file` (relative to the repository) over its .js in the scratch tree. */
  private compile(file: string, text: string): void {
    const r = ts.transpileModule(text, { compilerOptions: this.options, fileName: join(REPO_ROOT, file), reportDiagnostics: true });
    const errs = (r.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (errs.length) throw new Error(`mutants: ${file} does not compile: ${errs.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`);
    const out = this.outPath(file);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, r.outputText);
  }

  /** Put mutant `m` into the scratch tree (one at a time: the previous one is restored first). */
  apply(m: Mutant): void {
    this.restore();
    const out = this.outPath(m.file);
    this.saved.set(out, readFileSync(out, 'utf8'));
    this.compile(m.file, patchedSource(m));
  }

  /** Give the scratch tree its unmutated files back. */
  restore(): void {
    for (const [f, text] of this.saved) writeFileSync(f, text);
    this.saved.clear();
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ running a race

export interface RaceRun {
  scenario: string;
  mode: Mode;
  budgetS: number;
  /** Wall-clock time of the command, process start included (and of the runs started again). */
  wallMs: number;
  /** The race runner's own figures. */
  elapsedMs: number;
  iterations: number;
  failure: { kind: string; message: string; iteration: number } | null;
  /** Runs started again because their harness never began its first iteration (see `neverBegan`). */
  restarts: number;
}

interface RaceJson {
  elapsedMs: number;
  iterations: number;
  failure: { kind: string; message: string; iteration: number; workers?: { lastEvents: string[] }[] } | null;
}

/**
 * A stress run that reported a hang in iteration 0 while no harness part had got past attaching
 * (its only events are the name table's lock, taken when a part interns its names): the stall
 * watchdog started counting before the harness began, and on a loaded 2-core host a worker can
 * still be loading after its 3 s (`race flushbufqueues --mode stress --budget 0.1` shows it on the
 * unmutated tree). Such a run tested nothing, mutant or not; it is started again (twice at most).
 */
export function neverBegan(mode: Mode, scenario: string, f: RaceJson['failure']): boolean {
  if (mode !== 'stress' || !f || f.kind !== 'hang' || f.iteration !== 0 || !f.workers) return false;
  const parts = f.workers.slice(0, raceScenario(scenario).parts.length);
  return parts.every((w) => w.lastEvents.every((e) => /^spin_(lock|locked|unlock) names@/.test(e)));
}

/**
 * `node <scratch>/dist/src/cli/main.js race <scenario> --mode <mode> --budget <s> --json`, in the
 * scratch folder (where a failing explore run saves its replay file); a run whose harness never
 * began is started again (`neverBegan`). Throws when the command does not answer with its JSON
 * result (exit 0 clean, exit 1 with a failure).
 */
export async function runRace(scratch: Scratch, scenario: string, mode: Mode, budgetS: number): Promise<RaceRun> {
  let wallMs = 0;
  for (let restarts = 0; ; restarts++) {
    const { json, ms } = await raceCommand(scratch, scenario, mode, budgetS);
    wallMs += ms;
    if (restarts < 2 && neverBegan(mode, scenario, json.failure)) continue;
    const f = json.failure;
    const failure = f ? { kind: f.kind, message: f.message, iteration: f.iteration } : null;
    return { scenario, mode, budgetS, wallMs, elapsedMs: json.elapsedMs, iterations: json.iterations, failure, restarts };
  }
}

function raceCommand(scratch: Scratch, scenario: string, mode: Mode, budgetS: number): Promise<{ json: RaceJson; ms: number }> {
  const t0 = performance.now();
  const args = [scratch.cli, 'race', scenario, ...MODE_ARGS[mode], '--budget', String(budgetS), '--json', '--force'];
  return new Promise<{ json: RaceJson; ms: number }>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: scratch.root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // The runner stops at its budget; this only guards against a command that never returns.
    const guard = setTimeout(() => child.kill('SIGKILL'), budgetS * 1000 + 120_000);
    child.on('error', (e) => {
      clearTimeout(guard);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      const what = `race ${scenario} ${MODE_ARGS[mode].join(' ')} --budget ${budgetS}`;
      let r: RaceJson;
      try {
        r = JSON.parse(out);
      } catch {
        reject(new Error(`mutants: \`${what}\` gave no result (exit ${code ?? signal}): ${(err || out).trim().split('\n').slice(-5).join(' | ')}`));
        return;
      }
      if (!((code === 0 && r.failure === null) || (code === 1 && r.failure))) {
        reject(new Error(`mutants: \`${what}\` exited ${code ?? signal} with failure ${JSON.stringify(r.failure?.kind ?? null)}`));
        return;
      }
      resolve({ json: r, ms: performance.now() - t0 });
    });
  });
}

// ------------------------------------------------------------------ the benchmark

export interface ModeResult {
  mode: Mode;
  caught: boolean;
  /** The scenario that caught it, its failure kind (the detector), message and iteration. */
  scenario?: string;
  kind?: string;
  message?: string;
  iteration?: number;
  /** The runs' elapsedMs, summed up to the failure (or over every run when none failed). */
  timeMs: number;
  /** Wall-clock time of the same commands, process start included. */
  wallMs: number;
  runs: RaceRun[];
}

export interface MutantResult {
  name: string;
  file: string;
  bug: string;
  scenarios: string[];
  plainRace?: true;
  modes: Record<Mode, ModeResult>;
}

export interface MutantsOptions {
  /** Per mutant and mode, split evenly between the mutant's scenarios. */
  budgetS: number;
  /** Per scenario and mode, for the clean runs. */
  cleanBudgetS: number;
  mutants?: readonly Mutant[];
  modes?: readonly Mode[];
  progress?: (line: string) => void;
}

export interface MutantsReport {
  budgetS: number;
  cleanBudgetS: number;
  modes: Mode[];
  clean: RaceRun[];
  mutants: MutantResult[];
  /** The whole benchmark, wall clock (type checks, clean runs, mutants). */
  wallMs: number;
}

/** Run one mutant's scenarios in one mode until one catches it (the mutant is in place). */
export async function runMutantMode(scratch: Scratch, m: Mutant, mode: Mode, budgetS: number): Promise<ModeResult> {
  const share = Math.max(0.5, budgetS / m.scenarios.length);
  const runs: RaceRun[] = [];
  let timeMs = 0;
  let wallMs = 0;
  for (const sc of m.scenarios) {
    const r = await runRace(scratch, sc, mode, share);
    runs.push(r);
    timeMs += r.elapsedMs;
    wallMs += r.wallMs;
    if (r.failure) return { mode, caught: true, scenario: sc, kind: r.failure.kind, message: r.failure.message, iteration: r.failure.iteration, timeMs, wallMs, runs };
  }
  return { mode, caught: false, timeMs, wallMs, runs };
}

/** The clean runs, then every mutant in every mode. Throws on a stale mutant or a failing clean run. */
export async function runMutants(o: MutantsOptions): Promise<MutantsReport> {
  const t0 = performance.now();
  const mutants = o.mutants ?? MUTANTS;
  const modes = [...(o.modes ?? MODES)];
  const say = o.progress ?? (() => {});
  const stale = staleMutants(mutants);
  if (stale.length) throw new Error(`mutants: stale mutant(s): ${stale.map((s) => `${s.name} (search string found ${s.count} times in ${s.file})`).join(', ')}`);
  // A patch that does not type-check could crash a worker, and a crash would pass for a detection.
  const broken = typecheckMutants(mutants).filter((r) => r.errors.length);
  if (broken.length) throw new Error(`mutants: mutant(s) that do not type-check: ${broken.map((b) => `${b.name}: ${b.errors.join('; ')}`).join(' | ')}`);
  say(`${mutants.length} mutants apply and type-check`);
  const scratch = new Scratch();
  try {
    const clean: RaceRun[] = [];
    const scenarios = [...new Set(mutants.flatMap((m) => m.scenarios))];
    for (const sc of scenarios) {
      for (const mode of modes) {
        const r = await runRace(scratch, sc, mode, o.cleanBudgetS);
        say(`clean ${sc} ${mode}: ${r.failure ? `FAILED (${r.failure.kind})` : `nothing in ${r.iterations} iterations`}`);
        if (r.failure) throw new Error(`mutants: the clean run of ${sc} in ${mode} mode failed (${r.failure.kind}: ${r.failure.message}); no mutant result would mean anything`);
        clean.push(r);
      }
    }
    const results: MutantResult[] = [];
    for (const m of mutants) {
      scratch.apply(m);
      const res = {} as Record<Mode, ModeResult>;
      for (const mode of modes) {
        res[mode] = await runMutantMode(scratch, m, mode, o.budgetS);
        const r = res[mode];
        say(`${m.name} ${mode}: ${r.caught ? `caught by ${r.kind} in ${r.scenario} after ${(r.timeMs / 1000).toFixed(1)} s` : `missed (${(r.timeMs / 1000).toFixed(1)} s)`}`);
      }
      scratch.restore();
      results.push({ name: m.name, file: m.file, bug: m.bug, scenarios: m.scenarios, ...(m.plainRace ? { plainRace: m.plainRace } : {}), modes: res });
    }
    return { budgetS: o.budgetS, cleanBudgetS: o.cleanBudgetS, modes, clean, mutants: results, wallMs: performance.now() - t0 };
  } finally {
    scratch.dispose();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};

/** The figures: per mode, caught / total, then the median and maximum time to detection. */
export function mutantFigures(rep: MutantsReport): Figure[] {
  const total = rep.mutants.length;
  const figs: Figure[] = [];
  const caughtFig = (name: string, caught: number, goal = true): Figure => ({ name, unit: 'mutants', baseline: total, value: caught, ratio: total ? caught / total : 0, ...(goal ? { target: '>= 0.9', ok: total > 0 && caught / total >= 0.9 } : {}) });
  const serial = rep.modes.filter((mode) => SERIAL.includes(mode));
  for (const mode of rep.modes) {
    const hit = rep.mutants.map((m) => m.modes[mode]).filter((r) => r.caught);
    // The goal is on stress and on the serialized modes together, not on explore or bounded alone.
    figs.push(caughtFig(`${mode}: mutants caught`, hit.length, !SERIAL.includes(mode) || serial.length === 1));
    if (hit.length) {
      const secs = hit.map((r) => r.timeMs / 1000);
      // Times against the mode's budget per mutant: the ratio is the fraction of the budget used.
      figs.push({ name: `${mode}: median time to detection`, unit: 's', baseline: rep.budgetS, value: median(secs), ratio: median(secs) / rep.budgetS });
      figs.push({ name: `${mode}: max time to detection`, unit: 's', baseline: rep.budgetS, value: Math.max(...secs), ratio: Math.max(...secs) / rep.budgetS });
    }
  }
  if (serial.length > 1) figs.push(caughtFig(`${serial.join(' or ')}: mutants caught`, rep.mutants.filter((m) => serial.some((mode) => m.modes[mode].caught)).length));
  figs.push(caughtFig('any mode: mutants caught', rep.mutants.filter((m) => rep.modes.some((mode) => m.modes[mode].caught)).length, false));
  const plain = rep.mutants.filter((m) => m.plainRace);
  if (plain.length) {
    const named = plain.filter((m) => rep.modes.some((mode) => namesDataRace(m.modes[mode])));
    figs.push({ name: 'plain-access mutants whose data race is named (both sides, with code sites)', unit: 'mutants', baseline: plain.length, value: named.length, ratio: named.length / plain.length, target: '= 1', ok: named.length === plain.length });
  }
  return figs;
}

/** The run's report names a data race and the code site of both accesses (runner.ts, nameSites). */
export function namesDataRace(r: ModeResult | undefined): boolean {
  return !!r?.caught && /data race on .*\n\s+first: +\S.*\n\s+second: +\S/.test(r.message ?? '');
}

const cell = (r: ModeResult): string => (r.caught ? `${r.kind} ${(r.timeMs / 1000).toFixed(1)}s ${r.scenario}` : `missed (${(r.timeMs / 1000).toFixed(0)}s)`);

/** The per-mutant table, the per-mode summary, the missed mutants and the figures. */
export function formatMutants(rep: MutantsReport, figures = mutantFigures(rep)): string {
  const lines = [`mutants: ${rep.mutants.length} mutants, budget ${rep.budgetS} s per mutant and mode (split between its scenarios); clean runs ${rep.cleanBudgetS} s per scenario and mode`];
  const wName = Math.max(6, ...rep.mutants.map((m) => m.name.length));
  const wFile = Math.max(4, ...rep.mutants.map((m) => m.file.length));
  const cells = rep.mutants.map((m) => rep.modes.map((mode) => cell(m.modes[mode])));
  const wCell = rep.modes.map((_, i) => Math.max(rep.modes[i].length, ...cells.map((c) => c[i].length)));
  lines.push(`${'mutant'.padEnd(wName)}  ${'file'.padEnd(wFile)}  ${rep.modes.map((mode, i) => mode.padEnd(wCell[i])).join('  ')}`);
  lines.push('-'.repeat(wName + wFile + 4 + wCell.reduce((a, b) => a + b + 2, 0)));
  rep.mutants.forEach((m, k) => lines.push(`${m.name.padEnd(wName)}  ${m.file.padEnd(wFile)}  ${cells[k].map((c, i) => c.padEnd(wCell[i])).join('  ')}`.trimEnd()));
  lines.push('');
  for (const mode of rep.modes) {
    const hit = rep.mutants.filter((m) => m.modes[mode].caught);
    const kinds = new Map<string, number>();
    for (const m of hit) kinds.set(m.modes[mode].kind!, (kinds.get(m.modes[mode].kind!) ?? 0) + 1);
    const secs = hit.map((m) => m.modes[mode].timeMs / 1000);
    lines.push(`${mode}: ${hit.length}/${rep.mutants.length} caught${hit.length ? `, median ${median(secs).toFixed(1)} s, max ${Math.max(...secs).toFixed(1)} s; by ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}` : ''}`);
  }
  const plain = rep.mutants.filter((m) => m.plainRace);
  if (plain.length) {
    lines.push('', 'plain-access mutants (the data-race detector must name both sides):');
    for (const m of plain) {
      const r = rep.modes.map((mode) => m.modes[mode]).find(namesDataRace);
      const text = r?.message?.split('\n').filter((l) => /data race on|first:|second:/.test(l)).map((l) => l.trim()) ?? [];
      lines.push(`  ${m.name}: ${r ? `${r.mode}: ${text.join(' | ')}` : 'NOT named by any mode'}`);
    }
  }
  const missed = rep.mutants.filter((m) => !rep.modes.some((mode) => m.modes[mode].caught));
  if (missed.length) {
    lines.push('', 'missed by every mode:');
    for (const m of missed) {
      lines.push(`  ${m.name} (${m.file}): ${m.bug}`);
      for (const mode of rep.modes) lines.push(`    ${mode}: nothing in ${m.modes[mode].runs.map((r) => `${r.scenario} (${r.iterations.toLocaleString('en-US')} iterations, ${(r.elapsedMs / 1000).toFixed(1)} s)`).join(', ')}`);
    }
  }
  const iters = rep.clean.reduce((s, r) => s + r.iterations, 0);
  lines.push('', `clean runs: ${rep.clean.length} (${[...new Set(rep.clean.map((r) => r.scenario))].length} scenarios x ${rep.modes.length} modes), ${iters.toLocaleString('en-US')} iterations, nothing reported`);
  const restarted = [...rep.clean, ...rep.mutants.flatMap((m) => rep.modes.flatMap((mode) => m.modes[mode].runs))].reduce((n, r) => n + r.restarts, 0);
  if (restarted) lines.push(`${restarted} run(s) started again: a stress hang in iteration 0 before any harness part began (a worker still loading)`);
  lines.push(`the whole benchmark took ${(rep.wallMs / 60_000).toFixed(1)} min (wall clock)`, '');
  lines.push(formatFigures('mutants', figures));
  return lines.join('\n');
}

registerBenchmark({
  name: 'mutants',
  description: "kiolab's mutation score: uncatalogued concurrency bugs patched into a scratch build, caught per race mode",
  order: 90,
  async run({ scale }, progress) {
    const quick = scale < 1;
    const rep = await runMutants({ budgetS: quick ? 5 : 60, cleanBudgetS: quick ? 1 : 10, progress });
    const figures = mutantFigures(rep);
    return { figures, details: rep, text: formatMutants(rep, figures) };
  },
});
