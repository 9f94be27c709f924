/**
 * Campaigns through BullMQ on a real Redis (redis-helper.ts: Debian's redis-server on a free
 * port, with a password): two worker processes give the explore verdicts and iteration counts of
 * a local run of the same campaign; a job submitted twice runs once; a worker killed (-9) while
 * it holds a job loses nothing (every job completed exactly once); `campaign report --out`
 * writes the HTML table and the replay files; a worker runs nothing but campaign jobs; and the
 * password is in no output, log, result file or Redis value.
 */
import '../../workers/index.js'; // kiolab's own race scenarios (for loadCampaign)
import { expect } from 'chai';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { jobId, loadCampaign } from '../../src/campaign/file.js';
import { PREFIX, queueName } from '../../src/campaign/queue.js';
import type { CampaignReport } from '../../src/campaign/report.js';
import type { Marker } from '../../src/campaign/store.js';
import { CLI, SMALL, kiolab } from './helpers.js';
import { HAVE_REDIS, REQUIRED, SKIP_WHY, type TestRedis, startRedis } from './redis-helper.js';

const PASSWORD = 'kiolab-test-S3cr3t';

/** A `campaign worker` process whose stdout lines are kept. */
class WorkerProc {
  readonly child: ChildProcess;
  lines: string[] = [];
  err = '';
  private waiters: { re: RegExp; res: (m: RegExpExecArray) => void }[] = [];
  constructor(url: string, cwd: string, args: string[] = []) {
    // Every worker of a queue the same stall timeout: BullMQ's stalled check runs once per interval
    // of whichever worker ran it last, so one worker with the default 30 s would slow the others'.
    this.child = spawn(process.execPath, [CLI, 'campaign', 'worker', '--queue', url, '--concurrency', '1', '--stall-timeout', '2', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.lines.push(line);
        for (const w of [...this.waiters]) {
          const m = w.re.exec(line);
          if (m) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.res(m);
          }
        }
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.err += d));
  }
  /** The first line (already seen or to come) that matches; rejects after `ms` (nothing waits forever). */
  waitFor(re: RegExp, ms = 60_000): Promise<RegExpExecArray> {
    for (const l of this.lines) {
      const m = re.exec(l);
      if (m) return Promise.resolve(m);
    }
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`worker ${this.child.pid}: no line matching ${re} in ${ms} ms:\n${this.output}`)), ms);
      this.waiters.push({ re, res: (m) => (clearTimeout(timer), res(m)) });
    });
  }
  /** Ids (first 12 hex digits) of the jobs it completed. */
  done(): string[] {
    return this.lines.map((l) => / done ([0-9a-f]{12}) /.exec(l)?.[1]).filter((x): x is string => !!x);
  }
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return new Promise((res) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return res();
      this.child.once('exit', () => res());
      this.child.kill(signal);
    });
  }
  get output(): string {
    return `${this.lines.join('\n')}\n${this.err}`;
  }
}

const allFiles = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? allFiles(join(d, f)) : [join(d, f)]));

(HAVE_REDIS || REQUIRED ? describe : describe.skip)(HAVE_REDIS || REQUIRED ? 'campaign: through BullMQ on Redis' : `campaign: through BullMQ on Redis — ${SKIP_WHY}`, function () {
  this.timeout(120_000);
  let redis: TestRedis;
  let dir = '';
  const outputs: string[] = [];
  const workers: WorkerProc[] = [];
  const worker = (args: string[] = []) => {
    const w = new WorkerProc(redis.url, dir, args);
    workers.push(w);
    return w;
  };
  const run = async (args: string[]) => {
    const r = await kiolab(args, dir);
    outputs.push(r.out, r.err);
    return r;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kiolab-campaign-redis-'));
    redis = await startRedis({ password: PASSWORD });
    // Two of SMALL's switches: one found at once, one found with seed 1 and not with seed 2 within the cap.
    writeFileSync(join(dir, 'small.json'), JSON.stringify({ ...SMALL, scenarios: [{ switches: ['vfs-biowait-no-interlock', 'bc-history-no-recheck'] }] }));
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('two workers give the explore verdicts and iteration counts of a local run; a job submitted twice runs once', async () => {
    const local = await run(['campaign', 'small.json', '--out', 'local', '--json']);
    expect([0, 1], local.err).to.include(local.code);
    const l = JSON.parse(local.out) as CampaignReport;
    const [a, b] = [worker(), worker()];
    // Both ready before the jobs come, so that both take some.
    await Promise.all([a.waitFor(/taking jobs of queue/), b.waitFor(/taking jobs of queue/)]);
    const q = await run(['campaign', 'small.json', '--queue', redis.url, '--out', 'queued', '--json']);
    expect(q.code, q.err).to.equal(local.code);
    const r = JSON.parse(q.out) as CampaignReport;
    expect(r.finished).to.equal(4);
    const verdicts = (rep: CampaignReport) => Object.fromEntries(rep.results.map((x) => [x.id, `${x.status} ${x.kind} @${x.iterations} replayed ${x.replayed}`]));
    expect(verdicts(r)).to.deep.equal(verdicts(l));
    expect(new Set(r.results.map((x) => x.worker)).size, 'both workers ran jobs').to.equal(2);
    expect([...a.done(), ...b.done()].sort()).to.deep.equal(r.results.map((x) => x.id.slice(0, 12)).sort());
    expect(q.err).to.contain(`on queue ${queueName()} at redis://:***@127.0.0.1:${redis.port}/0`);

    // Submitted again: nothing new to run; the coordinator reports at once.
    const again = await run(['campaign', 'small.json', '--queue', redis.url, '--out', 'queued', '--json']);
    expect(again.code).to.equal(q.code);
    expect(verdicts(JSON.parse(again.out) as CampaignReport)).to.deep.equal(verdicts(r));
    await new Promise((res) => setTimeout(res, 500));
    expect(a.done().length + b.done().length).to.equal(4);

    // campaign report gathers the same results into a self-contained HTML table, with the replay files.
    const rep = await run(['campaign', 'report', '--queue', redis.url, '--campaign', 'small', '--out', 'gathered']);
    expect(rep.code).to.equal(q.code);
    expect(rep.out).to.match(/^bc-history-no-recheck +bc-history +explore +detected +2\/2 +invariant/m).and.contain('kiolab replay ');
    const html = readFileSync(join(dir, 'gathered', 'report.html'), 'utf8');
    expect(html).to.match(/<h2>Matrix<\/h2>\s*<table>.*<td>bc-history-no-recheck<\/td><td>bc-history<\/td><td>explore<\/td><td>detected<\/td>/s);
    expect(html).to.not.match(/https?:\/\/|<script|<link|src=/);
    expect(readdirSync(join(dir, 'gathered', 'replays')).sort()).to.deep.equal(readdirSync(join(dir, 'local', 'replays')).sort());
    await Promise.all([a.stop(), b.stop()]);
  });

  it('a worker killed (-9) while it holds a job loses nothing: every job completes exactly once', async () => {
    // Clean explore runs of 2 s each (no iteration cap): the victim is killed as soon as it says it took one.
    writeFileSync(join(dir, 'kill.json'), JSON.stringify({ name: 'kill', scenarios: [{ scenario: 'biowait', switches: [], clean: true }], modes: ['explore'], seeds: [1, 2, 3], budget: 2, replays: 0 }));
    const sub = await run(['campaign', 'kill.json', '--queue', redis.url, '--no-wait']);
    expect(sub.code, sub.err).to.equal(0);
    // The victim alone first, so that it surely takes a job; killed as soon as it has one.
    const victim = worker();
    const took = await victim.waitFor(/ took ([0-9a-f]{12}) /);
    await victim.stop('SIGKILL');
    const survivor = worker(['--concurrency', '2']);
    const coord = await run(['campaign', 'kill.json', '--queue', redis.url, '--out', 'kill', '--json']);
    expect(coord.code, coord.err).to.equal(0);
    const rep = JSON.parse(coord.out) as CampaignReport;
    const ids = (JSON.parse(readFileSync(join(dir, 'kill', 'campaign.json'), 'utf8')) as Marker).jobs.map((j) => j.id);
    expect(ids).to.have.length(3);
    expect(rep.finished).to.equal(3);
    expect(rep.results.map((x) => x.status)).to.deep.equal(['clean', 'clean', 'clean']);
    // Exactly once: the completions of both workers are the three jobs, none twice; the victim's went to the survivor.
    expect(victim.done()).to.deep.equal([]);
    expect(survivor.done().sort()).to.deep.equal(ids.map((id) => id.slice(0, 12)).sort());
    expect(survivor.lines.some((l) => l.includes(`took ${took[1]} `) && /\(attempt 2\)/.test(l)), survivor.output).to.equal(true);
    expect(rep.results.find((x) => x.id.startsWith(took[1]))!.worker).to.match(new RegExp(`:${survivor.child.pid}$`));
    await survivor.stop();
  });

  it('a worker runs nothing but campaign jobs: anything else on the queue fails unrun', async () => {
    const w = worker();
    const q = new Queue(queueName(), { connection: { host: '127.0.0.1', port: redis.port, password: PASSWORD }, prefix: PREFIX });
    try {
      const real = (await loadCampaign(join(dir, 'small.json'), { loadModule: async () => {} })).jobs[0].job;
      await q.add('race', { cmd: 'touch pwned' }, { jobId: 'evil-1' });
      await q.add('race', { ...real, seed: 99 }, { jobId: 'evil-2' });
      await q.add('shell', real, { jobId: jobId({ ...real, seed: 98 }) });
      for (const id of ['evil-1', 'evil-2', jobId({ ...real, seed: 98 })]) await w.waitFor(new RegExp(`failed ${id.slice(0, 12)}: not (a campaign job, not run|run)`));
      const f1 = await q.getJob('evil-1');
      expect(await f1!.getState()).to.equal('failed');
      expect(f1!.failedReason).to.match(/not a campaign job, not run: campaign job: field "cmd": not a field of a campaign job/);
      expect((await q.getJob('evil-2'))!.failedReason).to.contain('its id is not the hash of its content');
      expect(readdirSync(dir)).to.not.include('pwned');
    } finally {
      await q.close();
    }
  });

  it('the password is in no output, log, result file or Redis value', async () => {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    const texts = [...outputs, ...workers.map((w) => w.output)];
    for (const f of allFiles(dir)) texts.push(readFileSync(f, 'utf8'));
    const c = redis.client();
    await c.connect();
    try {
      for (const k of await c.keys('*')) {
        const type = await c.type(k);
        if (type === 'string') texts.push((await c.get(k)) ?? '');
        else if (type === 'hash') texts.push(JSON.stringify(await c.hgetall(k)));
        else if (type === 'list') texts.push(JSON.stringify(await c.lrange(k, 0, -1)));
        else if (type === 'zset') texts.push(JSON.stringify(await c.zrange(k, 0, -1)));
        else if (type === 'set') texts.push(JSON.stringify(await c.smembers(k)));
        else if (type === 'stream') texts.push(JSON.stringify(await c.xrange(k, '-', '+')));
      }
    } finally {
      c.disconnect();
    }
    expect(texts.join('\n').length).to.be.greaterThan(10_000);
    expect(texts.filter((t) => t.includes(PASSWORD))).to.deep.equal([]);
    // And a wrong password is refused in one line that shows none.
    const wrong = await run(['campaign', 'report', '--queue', redis.url.replace(PASSWORD, 'wrong-pw')]);
    expect(wrong.code).to.equal(2);
    expect(wrong.err).to.match(/^kiolab: --queue: cannot use Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0: WRONGPASS/);
    expect(wrong.err).to.not.contain('wrong-pw');
  });
});
