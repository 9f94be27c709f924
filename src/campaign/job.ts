/**
 * Running one campaign job: a child process of the built command, `node dist/src/cli/main.js
 * race <scenario> --bug B --mode M --seed N --budget S [--iterations N] --json --save <tmp>`, its
 * argv built from a checked `CampaignJob` (never from a string of a file or of the queue), then,
 * when it saved a failing schedule, `kiolab replay <tmp> --times R --json`.
 *
 * A run that outlives its budget by the job's hang margin is killed (SIGKILL) and reported as a
 * hang. The child gets this process's environment less the queue's credentials.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CampaignJob, checkJob } from './file.js';

/** The built command every job runs. */
export const CLI_PATH = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** Environment variables a job's process never sees (the queue's password). */
export const SECRET_ENV = ['KIOLAB_REDIS_PASSWORD'];

export type JobStatus = 'clean' | 'detected' | 'hang' | 'error';

export interface JobResult {
  id: string;
  job: CampaignJob;
  /** clean: nothing found; detected: a failure found; hang: killed past budget + margin; error: the run could not say. */
  status: JobStatus;
  /** The failure's kind (lost-wakeup, assertion, ...) when detected. */
  kind: string | null;
  /** The failure's first line, or what went wrong (hang, error). */
  message: string | null;
  /** Iterations the run made (to detection, when detected). */
  iterations: number | null;
  /** The run's own elapsed time (the race runner's elapsedMs: to detection, when detected). */
  elapsedMs: number | null;
  /** The job's wall time, process start-up and replays included. */
  wallMs: number;
  /** The run ended at its iteration cap (not its budget): its iteration count is deterministic in explore. */
  capped: boolean;
  /** Replays of the saved schedule: how many reproduced the failure. */
  replayed: { reproduced: number; times: number } | null;
  /** The saved failing schedule (the replay file's text), when the mode saves one. */
  replayText: string | null;
  /** Who ran it: host and process id of the runner. */
  worker: string;
  finishedAt: string;
}

export interface RunJobOptions {
  /** Absolute path of the job's user module on this machine (required when job.module is set). */
  modulePath?: string;
  /** Stops the job (kills its process); runJob then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Who runs it (default host:pid). */
  worker?: string;
}

interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  killedForHang: boolean;
  ms: number;
}

/** The environment of a job's process: this one's less the queue's credentials. */
export function jobEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of SECRET_ENV) delete env[k];
  return env;
}

/** The argv of a job's race run (after `node`), from a checked job. */
export function raceArgv(job: CampaignJob, savePath: string, modulePath?: string): string[] {
  const j = checkJob(job);
  if (j.module && !modulePath) throw new Error(`campaign job ${j.scenario}: needs module ${j.module.name} (sha256 ${j.module.sha256.slice(0, 12)}), which this machine was not given`);
  return [
    CLI_PATH,
    'race',
    ...(j.module ? ['--module', modulePath!] : []),
    j.scenario,
    ...(j.bug !== null ? ['--bug', j.bug] : []),
    '--mode',
    j.mode,
    '--seed',
    String(j.seed),
    '--budget',
    String(j.budget),
    ...(j.iterations !== null ? ['--iterations', String(j.iterations)] : []),
    ...(j.detect !== null ? ['--detect', j.detect] : []),
    '--json',
    '--save',
    savePath,
  ];
}

function runChild(argv: string[], cwd: string, limitMs: number, signal?: AbortSignal): Promise<ChildOutcome> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, argv, { cwd, env: jobEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let killedForHang = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      // Keep the end: the last lines say what happened.
      err = (err + d).slice(-16_384);
    });
    const timer = setTimeout(() => {
      killedForHang = true;
      child.kill('SIGKILL');
    }, limitMs);
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      rej(e);
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) rej(signal.reason ?? new Error('aborted'));
      else res({ code, signal: sig, out, err, killedForHang, ms: performance.now() - t0 });
    });
  });
}

const lastLine = (s: string): string =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .at(-1) ?? '';

interface RaceJson {
  iterations: number;
  elapsedMs: number;
  failure: { kind: string; message: string } | null;
  savedTo: string | null;
}

/** Run one job to its result. Rejects only when it cannot be run here (or is aborted). */
export async function runJob(id: string, job: CampaignJob, o: RunJobOptions = {}): Promise<JobResult> {
  const worker = o.worker ?? `${hostname()}:${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'kiolab-job-'));
  const t0 = performance.now();
  try {
    const save = join(dir, 'replay.json');
    const argv = raceArgv(job, save, o.modulePath);
    const limitMs = (job.budget + job.hangMargin) * 1000;
    const base = { id, job, worker, replayed: null, replayText: null, capped: false };
    const done = (r: Omit<JobResult, 'id' | 'job' | 'worker' | 'wallMs' | 'finishedAt' | 'replayed' | 'replayText' | 'capped'> & Partial<JobResult>): JobResult => ({
      ...base,
      ...r,
      wallMs: Math.round(performance.now() - t0),
      finishedAt: new Date().toISOString(),
    });
    const c = await runChild(argv, dir, limitMs, o.signal);
    if (c.killedForHang) {
      return done({ status: 'hang', kind: null, message: `hang: the run went on ${(c.ms / 1000).toFixed(1)} s, past its budget of ${job.budget} s by more than the hang margin (${job.hangMargin} s); killed`, iterations: null, elapsedMs: null });
    }
    let r: RaceJson | null = null;
    if (c.code === 0 || c.code === 1) {
      try {
        r = JSON.parse(c.out) as RaceJson;
      } catch {
        r = null;
      }
    }
    if (r === null || typeof r.iterations !== 'number') {
      const why = lastLine(c.err) || lastLine(c.out) || `exit ${c.code ?? c.signal}`;
      return done({ status: 'error', kind: null, message: `error: the race run ended with ${c.code !== null ? `exit ${c.code}` : `signal ${c.signal}`}: ${why}`, iterations: null, elapsedMs: null });
    }
    const capped = job.iterations !== null && r.iterations >= job.iterations && !r.failure;
    if (!r.failure) return done({ status: 'clean', kind: null, message: null, iterations: r.iterations, elapsedMs: Math.round(r.elapsedMs), capped });
    let replayText: string | null = null;
    let replayed: JobResult['replayed'] = null;
    if (r.savedTo) {
      replayText = readFileSync(save, 'utf8');
      if (job.replays > 0) {
        const rp = await runChild([CLI_PATH, 'replay', save, '--times', String(job.replays), '--json'], dir, limitMs, o.signal);
        try {
          const j = JSON.parse(rp.out) as { reproduced: number; times: number };
          replayed = { reproduced: j.reproduced, times: j.times };
        } catch {
          replayed = { reproduced: 0, times: job.replays };
        }
      }
    }
    return done({ status: 'detected', kind: r.failure.kind, message: r.failure.message.split('\n')[0], iterations: r.iterations, elapsedMs: Math.round(r.elapsedMs), replayed, replayText });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The fields of a job's result that a deterministic (explore, capped or detected) run must reproduce. */
export function verdictOf(r: Pick<JobResult, 'status' | 'kind' | 'iterations'>): string {
  return `${r.status}${r.kind ? ` ${r.kind}` : ''} @${r.iterations ?? '-'}`;
}
