/**
 * What a scenario run is handed (the command builds it; src/report runs machines with it): the
 * parsed common options, the raw option values and the progress line. It lives here, below
 * src/cli, so that the report layer needs nothing from the command.
 */

/** Option values as typed (strings and booleans), by long option name. */
export type OptionValues = Record<string, string | boolean | undefined>;

/**
 * The options every `bench` scenario gets (applied by src/cli/bench.ts; scenarios read them from
 * `ctx.common`, parsed, or from `opts`, raw strings as typed):
 *
 * | key        | option           | meaning |
 * |------------|------------------|---------|
 * | `seed`     | `--seed N`       | seed of the scenario's pseudo-random choices (integer >= 0) |
 * | `duration` | `--duration S`   | run the load for S seconds (after the ramp) |
 * | `ops`      | `--ops N`        | stop after N operations in all (with --duration: whichever comes first) |
 * | `ramp`     | `--ramp S`       | warm-up seconds left out of the figures (OpRecorder's `rampMs`) |
 * | `cpus`     | `--cpus N`       | worker (cpu) count of the load roles |
 * | `json`     | `--json`         | print the report as JSON instead of the human report |
 * | `out`      | `--out DIR`      | write DIR/report.json and DIR/report.html |
 * | `trace`    | `--trace FILE`   | write a Chrome Trace Event file (use `withReport` + `runMachine`) |
 * | `traceEvents` | `--trace-events N` | trace ring size per cpu (default 65536) |
 * | `config`   | `--config FILE`  | a JSON file of option values (`{"scenario": "...", "seed": 1, ...}`); the command line wins |
 * | `latencyUs` | `--latency-us N` | every device's fixed cost per request (µs) |
 * | `bandwidth` | `--bandwidth N`  | every device's transfer rate (MB/s) |
 * | `deviceFile` | `--device-file PATH` | back the device with a real file (several devices: PATH-<name>) |
 * | `deviceSync` | `--device-sync` | with --device-file: fdatasync each write before it completes |
 * | `check`    | `--check`        | a checker worker per machine samples the subsystems' invariants under their locks (src/race/checker.ts); a violation exits 1 |
 * | `asSeed`   | `--as-seed`      | run the seed's code where kiolab's default fixes a catalogued race: every such switch of the machine's subsystems on |
 *
 * The device options are applied to `spec.devices` by `withReport(spec, ctx)` (src/report/run-machine.ts).
 * `--json`, `--out`, `--trace`, `--config` and the progress line are applied by the command for
 * every scenario; the others mean something only if the scenario honours them (list those in
 * `Scenario.honours` so the command can warn about the rest).
 */
export interface CommonOptions {
  seed?: number;
  duration?: number;
  ops?: number;
  ramp?: number;
  cpus?: number;
  json: boolean;
  out?: string;
  trace?: string;
  traceEvents?: number;
  config?: string;
  latencyUs?: number;
  bandwidth?: number;
  deviceFile?: string;
  /** fdatasync each write to --device-file before it completes (--device-sync). */
  deviceSync?: boolean;
  /** Run the checker worker (src/race/checker.ts) beside every machine of the run. */
  check?: boolean;
  /** Overwrite output files that exist (--force). */
  force?: boolean;
  /**
   * --as-seed: the catalogued switches whose variant is the seed's own code, by subsystem
   * (the command fills it from the catalogue; `withReport` turns on those of the subsystems a
   * machine runs).
   */
  asSeed?: { name: string; subsystem: string }[];
}

/** What the command hands a scenario beside the raw options. */
export interface RunContext {
  /** The common options, parsed and checked. */
  common: CommonOptions;
  /** When the command started the run (performance.now()). */
  startedAt?: number;
  /** Every option value (common and the scenario's) after --config, as strings/booleans. */
  options: OptionValues;
  /** The progress line (a no-op when stderr is not a TTY or with --json). */
  progress: ProgressSink;
  /** Trace events gathered by `runMachine` (src/report/run-machine.ts); the command writes them. */
  trace: { events: unknown[]; machines: number; dropped: number } | null;
}

/** The progress line a scenario may feed (runMachine feeds it from live op counters). */
export interface ProgressSink {
  readonly enabled: boolean;
  /** Set what "done" means for the ETA. */
  plan(p: { durationMs?: number; ops?: number; label?: string }): void;
  /** Report the ops done so far (all workers). */
  ops(done: number): void;
  /** Show a free-form status line. */
  message(line: string): void;
  /** Erase the line. */
  clear(): void;
}
