/**
 * `kiolab campaign`: race campaigns (src/campaign/). A file of scenarios × switches × modes ×
 * seeds becomes jobs, one `kiolab race --json` process each, run here in a pool sized to the
 * cores, or through BullMQ on Redis by workers on any number of machines.
 *
 *   kiolab campaign FILE [--out DIR] [--concurrency N] [--rerun] [--force] [--json]
 *   kiolab campaign FILE --queue URL [--no-wait] [--out DIR] [--force] [--json]
 *   kiolab campaign worker --queue URL [--concurrency N] [--stall-timeout S] [--module FILE]...
 *   kiolab campaign report --queue URL [--campaign NAME] [--out DIR] [--force] [--json]
 *
 * Exit codes: 0 every switch detected in some mode and every clean run clean, 1 otherwise (a
 * switch missed, a false alarm, a hang, an error, an unfinished job), 2 bad usage or input.
 */
import { buildReport, formatReport, renderReportHtml, type CampaignReport, type JobOutcome } from '../campaign/report.js';
import { type Campaign, KIOLAB_VERSION, loadCampaign } from '../campaign/file.js';
import { defaultConcurrency, runLocal } from '../campaign/local.js';
import { Progress } from '../campaign/progress.js';
import { type RedisTarget, parseRedisUrl } from '../campaign/redis-url.js';
import { ResultsDir } from '../campaign/store.js';
import { parseCommandArgs } from './args.js';
import { loadUserModule, userModules } from './modules.js';
import { UsageError, numOpt, registerCommand } from './registry.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const USAGE = `Usage:
  kiolab campaign FILE [--out DIR] [--concurrency N] [--rerun] [--force] [--json]
  kiolab campaign FILE --queue URL [--no-wait] [--out DIR] [--force] [--json]
  kiolab campaign worker --queue URL [--concurrency N] [--stall-timeout S] [--module FILE]...
  kiolab campaign report --queue URL [--campaign NAME] [--out DIR] [--force] [--json]

Runs a race campaign: the jobs of FILE (scenarios and their switches or a user module, modes,
seeds, a budget or an iteration count per job), one \`kiolab race --json\` process each.

With no queue the jobs run on this machine, --concurrency at once (default: the cores, ${defaultConcurrency()}
here), each with a progress line and an ETA; a job that outlives its budget by its hang margin
is killed and reported as a hang. Results go to --out DIR (default campaign-results/<name>):
DIR/jobs/<id>.json, each failure's DIR/replays/*.json, DIR/report.json and a self-contained
DIR/report.html. A run that stopped resumes there (finished jobs are not run again; --rerun runs
them again). A folder that is not a campaign's is never written into.

--queue redis://[user:password@]host:port[/db] (rediss:// for TLS; the password may come from
KIOLAB_REDIS_PASSWORD instead, and is never printed or stored) enqueues the jobs on BullMQ;
a job already in the queue is not added again. It then waits and reports as a local run does
(--no-wait: submit and exit; a coordinator started again resumes). \`campaign worker\` takes
jobs, on any number of machines: it runs only campaign jobs (never a command from the queue),
and a user module's jobs only when it was given the same module (--module FILE, same content).
A worker that dies loses nothing: after --stall-timeout S (default 30; give every worker of a
queue the same) another takes its job.
\`campaign report\` gathers the results: the matrix, the failures with their replay commands,
the iterations run per scenario and mode; --out DIR writes them with the replay files.

The campaign file (JSON; a bad field exits 2 naming it):
  { "name": "nightly",
    "scenarios": [ { "switches": "all" },
                   { "scenario": "biowait", "switches": ["vfs-biowait-no-interlock"], "clean": true },
                   { "scenario": "producer-consumer", "module": "dist/examples/producer-consumer/pc.js" } ],
    "modes": ["explore", "stress"], "seeds": { "from": 1, "to": 3 },
    "budget": 10, "iterations": 500, "replays": 3, "detect": "race", "hangMargin": 30 }
  "budget" is seconds per job (default 60 with "iterations"), "iterations" ends a run there (an
  explore run's result is then the same on every machine), "replays" (default 3) replays each
  saved failure, "hangMargin" (default max(30, budget)) is the time past the budget before a kill.`;

type Values = Record<string, string | boolean | undefined>;

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

/** Options given that the form does not take: refused, naming them and why. */
function refuse(v: Values, allowed: string[], form: string): void {
  for (const [k, x] of Object.entries(v)) {
    if (x === undefined || allowed.includes(k)) continue;
    throw new UsageError(`campaign: --${k} does not apply to ${form}`);
  }
}

function target(v: Values): RedisTarget {
  if (typeof v.queue !== 'string') throw new UsageError('campaign: which queue? --queue redis://host:port');
  try {
    return parseRedisUrl(v.queue);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Map a RangeError of the campaign layer (bad file, bad folder, Redis out of reach) to exit 2. */
async function usage<T>(f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
}

/** Ctrl-C stops a campaign: no new job, running ones killed; what finished is reported. */
function interruptSignal(): AbortController {
  const ac = new AbortController();
  const on = () => ac.abort(new Error('interrupted'));
  process.once('SIGINT', on);
  process.once('SIGTERM', on);
  return ac;
}

function finish(rep: CampaignReport, out: ResultsDir | null, json: boolean): number {
  if (out) {
    out.writeAtomic('report.json', `${JSON.stringify(rep, null, 1)}\n`);
    out.writeAtomic('report.html', renderReportHtml(rep));
  }
  console.log(json ? JSON.stringify(rep, null, 2) : `${formatReport(rep)}${out ? `\nreport: ${out.path('report.html')}` : ''}`);
  const ok = rep.finished === rep.jobs && rep.problems.length === 0 && rep.matrix.every((c) => c.ok);
  return ok ? 0 : 1;
}

async function runFile(file: string, v: Values): Promise<number> {
  const c: Campaign = await usage(() => loadCampaign(file, { loadModule: async (abs, what) => void (await loadUserModule(abs, what)) }));
  const json = !!v.json;
  const outArg = typeof v.out === 'string' ? v.out : v.queue && v['no-wait'] ? null : `campaign-results/${c.name}`;
  if (v.queue !== undefined) {
    refuse(v, ['queue', 'no-wait', 'out', 'force', 'json'], 'a campaign on a queue (its workers run the jobs: campaign worker --concurrency N)');
    if (v['no-wait'] && typeof v.out === 'string') throw new UsageError('campaign: --out goes with waiting for the results; with --no-wait, write them later with campaign report --out DIR');
    const t = target(v);
    // Outputs checked before anything is submitted.
    const out = outArg !== null ? await usage(() => ResultsDir.open(outArg, c, !!v.force)) : null;
    const { submit, waitFor } = await import('../campaign/queue.js');
    const record = await usage(() => submit(t, c));
    console.error(`campaign ${c.name}: ${c.jobs.length} jobs on queue ${record.queue} at ${t.masked}${v['no-wait'] ? '' : '; waiting for workers (kiolab campaign worker --queue URL)'}`);
    if (v['no-wait']) return 0;
    const progress = new Progress(c.jobs.length, 1, process.stderr, c.jobs[0]?.job.budget * 1000);
    const outcomes: JobOutcome[] = c.jobs.map(() => ({ pending: true }));
    const ac = interruptSignal();
    try {
      await usage(() =>
        waitFor(
          t,
          record,
          (i, o) => {
            outcomes[i] = o;
            if ('result' in o) {
              out?.save(o.result);
              progress.done(o.result, ` (${o.result.worker})`);
            } else if ('failed' in o) progress.failed(c.jobs[i].id.slice(0, 12), o.failed);
          },
          { signal: ac.signal },
        ),
      );
    } finally {
      progress.stop();
    }
    return finish(buildReport(c.name, KIOLAB_VERSION, c.jobs, outcomes, out ? out.dir : null), out, json);
  }
  refuse(v, ['out', 'concurrency', 'rerun', 'force', 'json'], 'a local campaign');
  const concurrency = numOpt('concurrency', v.concurrency, 1, { integer: true, max: 1024 }) ?? defaultConcurrency();
  const out = await usage(() => ResultsDir.open(outArg!, c, !!v.force));
  const progress = new Progress(c.jobs.length, concurrency, process.stderr, (c.jobs[0]?.job.budget ?? 10) * 1000);
  progress.line(`campaign ${c.name}: ${c.jobs.length} jobs, ${concurrency} at once, results in ${out.dir}`);
  const ac = interruptSignal();
  let results;
  try {
    results = await runLocal(c, out, { concurrency, rerun: !!v.rerun, signal: ac.signal, progress });
  } finally {
    progress.stop();
  }
  const outcomes: JobOutcome[] = results.map((r) => (r ? { result: r } : { pending: true }));
  return finish(buildReport(c.name, KIOLAB_VERSION, c.jobs, outcomes, out.dir), out, json);
}

async function runWorkerCmd(v: Values): Promise<number> {
  refuse(v, ['queue', 'concurrency', 'stall-timeout'], 'campaign worker');
  const t = target(v);
  const concurrency = numOpt('concurrency', v.concurrency, 1, { integer: true, max: 1024 }) ?? defaultConcurrency();
  const stallTimeoutS = numOpt('stall-timeout', v['stall-timeout'], 1, { max: 86_400 }) ?? 30;
  const modules = new Map(userModules().map((p) => [sha(p), p]));
  const close = new AbortController();
  const force = new AbortController();
  const on = () => (close.signal.aborted ? force.abort(new Error('stopped')) : close.abort());
  process.on('SIGTERM', on);
  process.on('SIGINT', on);
  const { runWorker } = await import('../campaign/queue.js');
  const log = (s: string) => console.log(`${new Date().toISOString()} ${s}`);
  for (const [h, p] of modules) log(`module ${basename(p)} (sha256 ${h.slice(0, 12)}…) allowed`);
  const r = await usage(() => runWorker(t, { concurrency, stallTimeoutS, modules, log, signal: close.signal, force: force.signal }));
  log(`worker: ${r.done} job(s) done`);
  return 0;
}

async function runReport(v: Values): Promise<number> {
  refuse(v, ['queue', 'campaign', 'out', 'force', 'json'], 'campaign report');
  const t = target(v);
  const { findCampaign, outcomes } = await import('../campaign/queue.js');
  const record = await usage(() => findCampaign(t, typeof v.campaign === 'string' ? v.campaign : undefined));
  const out = typeof v.out === 'string' ? await usage(() => ResultsDir.open(v.out as string, record, !!v.force)) : null;
  const got = await usage(() => outcomes(t, record, record.jobs.map((j) => j.id)));
  for (const o of got) if ('result' in o) out?.save(o.result);
  return finish(buildReport(record.name, record.version, record.jobs, got, out ? out.dir : null), out, !!v.json);
}

registerCommand({
  name: 'campaign',
  summary: 'run a race campaign (FILE) here or through Redis (--queue); worker, report',
  usage: USAGE,
  async run(argv) {
    const { values: v, positionals } = parseCommandArgs('campaign', argv, {
      out: { type: 'string' },
      concurrency: { type: 'string' },
      rerun: { type: 'boolean' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
      queue: { type: 'string' },
      'no-wait': { type: 'boolean' },
      'stall-timeout': { type: 'string' },
      campaign: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (v.help) {
      console.log(USAGE);
      return 0;
    }
    const [first, ...more] = positionals;
    if (first === undefined) throw new UsageError('campaign: which campaign file? (kiolab campaign FILE, campaign worker, campaign report; --help)');
    if (more.length > 0) throw new UsageError(`campaign: unexpected argument ${JSON.stringify(more[0])}`);
    if (first === 'worker') return runWorkerCmd(v);
    if (first === 'report') return runReport(v);
    if (userModules().length > 0) throw new UsageError('campaign: --module goes in the campaign file ("module" of a scenario entry) or with campaign worker');
    return runFile(first, v);
  },
});
