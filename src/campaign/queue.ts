/**
 * Campaigns beyond one machine: BullMQ on Redis.
 *
 * - `submit` stores the campaign's record (its name and jobs) in the hash `kiolab:campaigns` and
 *   adds each job to the BullMQ queue `campaign-<kiolab version>` (prefix `kiolab`) with its id
 *   as the BullMQ job id: a job already in the queue, waiting or finished, is not added again,
 *   so a campaign submitted twice (or a coordinator started again) runs each job once. Only
 *   workers of the same kiolab version take a version's jobs (explore is deterministic per build).
 * - `runWorker` takes jobs, checks each is exactly a campaign job whose id is the hash of its
 *   content (anything else fails at once, unrun), runs it as a child process (job.ts) and returns
 *   the result, with the failure's replay file, to Redis as the job's return value. While a job
 *   runs BullMQ renews its lock; a worker that dies stops renewing it, and after the stall
 *   timeout another worker's stalled-job check puts the job back in the queue.
 * - `gather` reads a campaign's record and every job's result or failure back.
 *
 * The Redis password is in no job, result, record or message (redis-url.ts masks it).
 */
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { hostname } from 'node:os';
import { type Campaign, type CampaignJob, KIOLAB_VERSION, checkJob, jobId, jobLabel } from './file.js';
import { type JobResult, runJob } from './job.js';
import { resultLine } from './progress.js';
import type { JobOutcome } from './report.js';
import { type RedisTarget, redisOptions, scrub } from './redis-url.js';

export const PREFIX = 'kiolab';
export const CAMPAIGNS_KEY = 'kiolab:campaigns';
export const queueName = (version = KIOLAB_VERSION): string => `campaign-${version.replace(/[^0-9A-Za-z.-]/g, '_')}`;

export interface CampaignRecord {
  name: string;
  version: string;
  queue: string;
  submittedAt: string;
  jobs: { id: string; job: CampaignJob }[];
}

const msg = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0];

/** Connect once, failing fast (10 s, no retries) with a message that names the masked address. */
export async function reach(t: RedisTarget): Promise<Redis> {
  const r = new Redis({ ...redisOptions(t), lazyConnect: true, connectTimeout: 10_000, retryStrategy: () => null, maxRetriesPerRequest: 1 });
  // The connect below rejects with "Connection is closed"; the error event says why.
  let why: unknown = null;
  r.on('error', (e) => (why ??= e));
  try {
    await r.connect();
    await r.ping();
    return r;
  } catch (e) {
    r.disconnect();
    throw new RangeError(`--queue: cannot use Redis at ${t.masked}: ${scrub(msg(why ?? e), t)}`);
  }
}

function openQueue(t: RedisTarget, name = queueName()): Queue {
  const q = new Queue(name, { connection: redisOptions(t), prefix: PREFIX });
  q.on('error', () => {}); // commands reject with the error; the event would only repeat it
  return q;
}

/** Store the campaign's record and enqueue its jobs (those already in the queue are not added again). */
export async function submit(t: RedisTarget, c: Campaign): Promise<CampaignRecord> {
  const r = await reach(t);
  const record: CampaignRecord = { name: c.name, version: KIOLAB_VERSION, queue: queueName(), submittedAt: new Date().toISOString(), jobs: c.jobs };
  const q = openQueue(t, record.queue);
  try {
    await r.hset(CAMPAIGNS_KEY, c.name, JSON.stringify(record));
    for (let i = 0; i < c.jobs.length; i += 500) {
      await q.addBulk(
        c.jobs.slice(i, i + 500).map(({ id, job }) => ({
          name: 'race',
          data: job,
          opts: { jobId: id, attempts: 3, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: false, removeOnFail: false },
        })),
      );
    }
  } catch (e) {
    throw new RangeError(`--queue: Redis at ${t.masked}: ${scrub(msg(e), t)}`);
  } finally {
    await q.close();
    r.disconnect();
  }
  return record;
}

/** The campaigns stored in Redis, by name. */
export async function campaigns(t: RedisTarget): Promise<Map<string, CampaignRecord>> {
  const r = await reach(t);
  try {
    const all = await r.hgetall(CAMPAIGNS_KEY);
    return new Map(Object.entries(all).map(([k, v]) => [k, JSON.parse(v) as CampaignRecord]));
  } finally {
    r.disconnect();
  }
}

/** A stored result, checked enough to be shown (it came from a shared queue). */
function asResult(id: string, v: unknown): JobResult | null {
  if (typeof v !== 'object' || v === null) return null;
  const r = v as JobResult;
  if (r.id !== id || !['clean', 'detected', 'hang', 'error'].includes(r.status)) return null;
  return r;
}

/** What became of each of `ids` (results, failures, not finished), reading at most 200 jobs at once. */
export async function outcomes(t: RedisTarget, record: Pick<CampaignRecord, 'queue'>, ids: string[]): Promise<JobOutcome[]> {
  const q = openQueue(t, record.queue);
  try {
    const out: JobOutcome[] = [];
    for (let i = 0; i < ids.length; i += 200) {
      const part = await Promise.all(
        ids.slice(i, i + 200).map(async (id): Promise<JobOutcome> => {
          const j = await Job.fromId(q, id);
          if (!j || !j.finishedOn) return { pending: true };
          const res = asResult(id, j.returnvalue);
          if (res) return { result: res };
          return { failed: j.failedReason || 'no result' };
        }),
      );
      out.push(...part);
    }
    return out;
  } catch (e) {
    throw new RangeError(`--queue: Redis at ${t.masked}: ${scrub(msg(e), t)}`);
  } finally {
    await q.close();
  }
}

/** The record of campaign `name`, or the only one stored; a RangeError lists them otherwise. */
export async function findCampaign(t: RedisTarget, name?: string): Promise<CampaignRecord> {
  const all = await campaigns(t);
  if (name !== undefined) {
    const c = all.get(name);
    if (!c) throw new RangeError(`--campaign: no campaign ${JSON.stringify(name)} in Redis at ${t.masked}; there: ${[...all.keys()].join(', ') || 'none'}`);
    return c;
  }
  if (all.size === 1) return [...all.values()][0];
  throw new RangeError(all.size === 0 ? `campaign report: Redis at ${t.masked} holds no campaign` : `campaign report: Redis at ${t.masked} holds ${all.size} campaigns; name one with --campaign: ${[...all.keys()].join(', ')}`);
}

/**
 * Wait until every job of `record` has finished (result or failure), calling `onDone` once per
 * job as it is seen finished. Polls the unfinished jobs every `pollMs` (at most 1,000 per round,
 * in the campaign's order); ends early when `signal` aborts.
 */
export async function waitFor(t: RedisTarget, record: CampaignRecord, onDone: (i: number, o: JobOutcome) => void, o: { pollMs?: number; signal?: AbortSignal } = {}): Promise<void> {
  const pending = new Set(record.jobs.map((_, i) => i));
  while (pending.size > 0 && !o.signal?.aborted) {
    const idx = [...pending].slice(0, 1000);
    const got = await outcomes(t, record, idx.map((i) => record.jobs[i].id));
    idx.forEach((i, k) => {
      if ('pending' in got[k]) return;
      pending.delete(i);
      onDone(i, got[k]);
    });
    if (pending.size > 0) await new Promise((res) => setTimeout(res, o.pollMs ?? 1000));
  }
}

export interface WorkerOptions {
  concurrency: number;
  /** Seconds after which a dead worker's job goes to another (BullMQ's lock duration and stalled-check interval). */
  stallTimeoutS: number;
  /** The user modules this worker may run, by the sha256 of their content → path here. */
  modules: Map<string, string>;
  log: (line: string) => void;
  /** Close: no new job; the running ones finish. */
  signal: AbortSignal;
  /** Close at once: the running jobs' processes are killed (their jobs go to another worker). */
  force: AbortSignal;
}

/** Take and run jobs until `o.signal` aborts. */
export async function runWorker(t: RedisTarget, o: WorkerOptions): Promise<{ done: number }> {
  await reach(t).then((r) => r.disconnect());
  const me = `${hostname()}:${process.pid}`;
  let done = 0;
  const processor = async (job: Job): Promise<JobResult> => {
    let cj: CampaignJob;
    try {
      cj = checkJob(job.data);
    } catch (e) {
      throw new UnrecoverableError(`not a campaign job, not run: ${msg(e)}`);
    }
    if (job.name !== 'race' || job.id !== jobId(cj)) throw new UnrecoverableError('not a campaign job, not run: its id is not the hash of its content');
    if (cj.version !== KIOLAB_VERSION) throw new UnrecoverableError(`not run: a job of kiolab ${cj.version}, this worker is ${KIOLAB_VERSION}`);
    let modulePath: string | undefined;
    if (cj.module) {
      modulePath = o.modules.get(cj.module.sha256);
      // Another worker may have it: an ordinary failure, retried (attempts) elsewhere.
      if (!modulePath) throw new Error(`worker ${me} was not given module ${cj.module.name} with sha256 ${cj.module.sha256.slice(0, 12)}… (start it with --module FILE)`);
    }
    o.log(`took ${job.id!.slice(0, 12)} ${jobLabel(cj)}${job.attemptsStarted > 1 ? ` (attempt ${job.attemptsStarted})` : ''}`);
    return runJob(job.id!, cj, { modulePath, worker: me, signal: o.force });
  };
  const w = new Worker(queueName(), processor, {
    connection: redisOptions(t),
    prefix: PREFIX,
    concurrency: o.concurrency,
    lockDuration: o.stallTimeoutS * 1000,
    stalledInterval: o.stallTimeoutS * 1000,
    // A job whose worker died twice is not given out a third time: it is failed, and reported.
    maxStalledCount: 2,
  });
  w.on('error', (e) => o.log(`error: ${scrub(msg(e), t)}`));
  w.on('completed', (job, r: JobResult) => {
    done++;
    o.log(`done ${job.id!.slice(0, 12)} ${jobLabel(r.job)}: ${resultLine(r)}`);
  });
  w.on('failed', (job, e) => o.log(`failed ${job?.id?.slice(0, 12) ?? '?'}: ${scrub(msg(e), t)}`));
  o.log(`worker ${me}: taking jobs of queue ${queueName()} at ${t.masked}, ${o.concurrency} at once`);
  await new Promise<void>((res) => {
    if (o.signal.aborted) res();
    else o.signal.addEventListener('abort', () => res(), { once: true });
  });
  o.log(`worker ${me}: closing (the running jobs finish; again to stop them)`);
  await w.close(o.force.aborted);
  return { done };
}
