/**
 * The bug-switch table of this worker: which named, off-by-default variants of the correct code
 * are on. It is resolved once per worker from the machine spec (`spec.race.bugs`, applied by the
 * race planner, which every worker runs when it attaches) and read on the code paths with
 *
 *     if (bugs.any && bugs.enabled('vfs-biowait-no-interlock')) { ...the historical variant... }
 *
 * With no switch on, `bugs.any` is false and the correct code runs: one property load.
 * It lives in src/sync, below every subsystem, and imports nothing, so any layer may read it;
 * the catalogue of names and the planner that fills it live in src/race.
 */
class BugSwitches {
  /** True when at least one switch is on in this worker. */
  any = false;
  private on = new Set<string>();

  enabled(name: string): boolean {
    return this.on.has(name);
  }

  /** Replace the set of switches that are on (names are checked against the catalogue by the race runner). */
  configure(names: readonly string[] | undefined): void {
    this.on = new Set(names ?? []);
    this.any = this.on.size > 0;
  }

  list(): string[] {
    return [...this.on];
  }
}

export const bugs = new BugSwitches();
