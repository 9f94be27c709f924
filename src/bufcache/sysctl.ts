/**
 * sysctl: every vfs.* value vfs_bio.c exports, under its name, read from the arena (a sample of
 * a running machine; exact at quiescent points), plus kiolab's own counters (restart reasons,
 * hits, queue lengths) under `kiolab.bufcache.*`.
 */
import type { Arena } from '../shm/arena.js';
import { BufGlobalsLayout, BufLayout, BufPcpuLayout } from './layout.js';
import { vmSnapshot } from './vm.js';
import { BQUEUE_NAMES, BUFFER_QUEUES, type BufTunables, RESTART_NAMES, bufinitTunables } from './tunables.js';

/** vfs.bufcache_bw and vfs.vm_cycle_point: constants of the reference (no page act_count is modelled). */
const BUFCACHE_BW = 200 * 1024 * 1024;
const VM_CYCLE_POINT = 40;

export type SysctlSnapshot = Record<string, number>;

/** The tunables bufinit derives from `nbuf`, as `sysctl vfs` names them (no machine needed). */
export function sysctlTunables(nbuf: number, t: BufTunables = bufinitTunables(nbuf)): SysctlSnapshot {
  return {
    'vfs.nbuf': t.nbuf,
    'vfs.maxbufspace': t.maxbufspace,
    'vfs.hibufspace': t.hibufspace,
    'vfs.lobufspace': t.lobufspace,
    'vfs.hidirtybufspace': t.hidirtybufspace,
    'vfs.lodirtybufspace': t.lodirtybufspace,
    'vfs.hirunningspace': t.hirunningspace,
    'vfs.lorunningspace': t.lorunningspace,
    'vfs.flushperqueue': t.flushperqueue,
    'vfs.bufcache_bw': BUFCACHE_BW,
    'vfs.vm_cycle_point': VM_CYCLE_POINT,
  };
}

/** A snapshot of a machine's buffer cache. Takes no lock (any thread). */
export function sysctlSnapshot(arena: Arena): SysctlSnapshot {
  const G = arena.view(BufGlobalsLayout);
  const P = arena.view(BufPcpuLayout);
  const g = arena.pool('bufcache.globals', BufGlobalsLayout).addr(0);
  const pcpu = arena.pool('bufcache.pcpu', BufPcpuLayout);
  const gl = (f: Parameters<typeof G.load>[1]) => G.load(g, f);
  let getnewbufcalls = 0;
  const restarts = new Array<number>(RESTART_NAMES.length).fill(0);
  const queues = new Array<number>(BUFFER_QUEUES).fill(0);
  const sum: Record<string, number> = { hits: 0, misses: 0, readahead: 0, bd_waits: 0, wdrn_waits: 0, flushed: 0, flush_inval: 0, flush_errors: 0, getblk_recycled: 0, getblk_sleepfail: 0 };
  for (let c = 0; c < pcpu.count; c++) {
    const pc = pcpu.addr(c);
    getnewbufcalls += P.load(pc, 'getnewbufcalls');
    for (let k = 0; k < RESTART_NAMES.length; k++) restarts[k] += P.loadAt(pc, 'gnb_restart', k);
    if (c < gl('nsets')) for (let q = 0; q < BUFFER_QUEUES; q++) queues[q] += P.loadAt(pc, 'q_len', q);
    for (const k of Object.keys(sum)) sum[k] += P.load(pc, k as never);
  }
  const out: SysctlSnapshot = {
    'vfs.flushperqueue': gl('flushperqueue'),
    'vfs.lodirtybufspace': gl('lodirtybufspace'),
    'vfs.hidirtybufspace': gl('hidirtybufspace'),
    'vfs.lorunningspace': gl('lorunningspace'),
    'vfs.hirunningspace': gl('hirunningspace'),
    'vfs.bufcache_bw': BUFCACHE_BW,
    'vfs.lowmempgallocs': 0,
    'vfs.vm_cycle_point': VM_CYCLE_POINT,
    'vfs.nbuf': gl('nbuf'),
    'vfs.dirtykvaspace': gl('dirtykvaspace'),
    'vfs.dirtybufspace': gl('dirtybufspace'),
    'vfs.dirtybufspacehw': gl('dirtybufspacehw'),
    'vfs.dirtybufcount': gl('dirtybufcount'),
    'vfs.dirtybufcounthw': gl('dirtybufcounthw'),
    'vfs.runningbufspace': gl('runningbufspace'),
    'vfs.runningbufcount': gl('runningbufcount'),
    'vfs.maxbufspace': gl('maxbufspace'),
    'vfs.hibufspace': gl('hibufspace'),
    'vfs.lobufspace': gl('lobufspace'),
    'vfs.bufspace': gl('bufspace'),
    'vfs.getnewbufcalls': getnewbufcalls,
    'vfs.debug_commit': 0,
    'vfs.debug_bufbio': 0,
    'vfs.debug_kvabio': 0,
    'debug.sizeof.buf': BufLayout.bytes,
    'kiolab.bufcache.needsbuffer': gl('needsbuffer'),
    'kiolab.bufcache.runningbufreq': gl('runningbufreq'),
    'kiolab.bufcache.bd_request': gl('bd_request'),
    'kiolab.bufcache.bd_request_hw': gl('bd_request_hw'),
    'kiolab.bufcache.bd_wake_index': gl('bd_wake_index') >>> 0,
    'kiolab.bufcache.nsets': gl('nsets'),
  };
  RESTART_NAMES.forEach((n, k) => (out[`kiolab.bufcache.getnewbuf_restart.${n}`] = restarts[k]));
  for (let q = 1; q < BUFFER_QUEUES; q++) out[`kiolab.bufcache.queue.${BQUEUE_NAMES[q]}`] = queues[q];
  for (const [k, v] of Object.entries(sum)) out[`kiolab.bufcache.${k}`] = v;
  Object.assign(out, vmSnapshot(arena));
  return out;
}
