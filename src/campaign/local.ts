/**
 * The embedded default: a campaign's jobs on this machine, in a pool of child processes (one
 * per job) of at most `concurrency` at once (p-queue bounds them; default: the cores). Each
 * finished job's result goes to the results folder at once, so a run that stops (Ctrl-C, a
 * crash, a reboot) resumes where it was: jobs with a result are not run again.
 */
import { availableParallelism } from 'node:os';
import PQueue from 'p-queue';
import type { Campaign } from './file.js';
import { type JobResult, runJob } from './job.js';
import { Progress } from './progress.js';
import type { ResultsDir } from './store.js';

export interface LocalOptions {
  concurrency?: number;
  /** Run the jobs that have a result already again. */
  rerun?: boolean;
  /** Stop: no new job starts, running ones are killed. */
  signal?: AbortSignal;
  progress?: Progress | null;
}

export function defaultConcurrency(): number {
  return Math.max(1, availableParallelism());
}

/** Run every job of `c` that has no result in `out`; returns every job's result, in the campaign's order (null: did not run). */
export async function runLocal(c: Campaign, out: ResultsDir, o: LocalOptions = {}): Promise<(JobResult | null)[]> {
  const concurrency = o.concurrency ?? defaultConcurrency();
  const results = c.jobs.map(({ id }) => (o.rerun ? null : out.result(id)));
  o.progress?.skip(results.filter((r) => r !== null).length);
  const q = new PQueue({ concurrency });
  const stop = () => q.clear();
  o.signal?.addEventListener('abort', stop, { once: true });
  let error: unknown = null;
  c.jobs.forEach(({ id, job }, i) => {
    if (results[i] !== null) return;
    void q.add(async () => {
      if (o.signal?.aborted || error !== null) return;
      o.progress?.start(id, job);
      try {
        const modulePath = job.module ? c.modules.get(job.module.sha256) : undefined;
        const r = await runJob(id, job, { modulePath, signal: o.signal });
        out.save(r);
        results[i] = r;
        o.progress?.done(r);
      } catch (e) {
        if (!o.signal?.aborted && error === null) error = e;
        q.clear();
      }
    });
  });
  await q.onIdle();
  o.signal?.removeEventListener('abort', stop);
  if (error !== null) throw error;
  return results;
}
