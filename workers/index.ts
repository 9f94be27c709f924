/**
 * kiolab's own worker modules: importing this registers every built-in role set, with the arena
 * planners and initializers they bring. The command, the benchmarks and the public API import
 * it; the engine never does (src/engine/roles.ts).
 */
import './lab.js'; //        the primitives lab (tests, `bench primitives`, `bench locks`)
import './report.js'; //     the `locks` load and the report roles
import './device.js'; //     device workers and the devices' planner
import './bootcache.js'; //  BootCache: the reader and strategy callers
import './bufcache.js'; //   the buffer cache: callers, buf_daemon and buf_daemon_hw
import './swap.js'; //       swap pagers and swapctl
import './mixed.js'; //      the whole stack
import './race.js'; //       the race harness and every race scenario
