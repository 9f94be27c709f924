/**
 * A campaign's results folder (`--out DIR`, default `campaign-results/<name>`):
 *
 *   DIR/campaign.json        the marker: the campaign's name and its jobs (what makes DIR a campaign folder)
 *   DIR/jobs/<id>.json       each finished job's result (a result there is not run again: a
 *                            coordinator that stopped resumes where it was)
 *   DIR/replays/<name>.json  each failure's saved schedule, for `kiolab replay`
 *   DIR/report.json, DIR/report.html
 *
 * The folder is checked before any job starts: one that exists, is not empty and holds no
 * campaign marker is refused (nothing is clobbered); one of another campaign is refused unless
 * `force`. Problems are RangeErrors starting with "--out:".
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Campaign, CampaignJob } from './file.js';
import type { JobResult } from './job.js';

export const MARKER = 'campaign.json';
const FORMAT = 'kiolab-campaign';

export interface Marker {
  format: typeof FORMAT;
  name: string;
  jobs: { id: string; job: CampaignJob }[];
}

const reason = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** A replay file's name in DIR/replays: readable and unique. */
export function replayName(r: Pick<JobResult, 'id' | 'job'>): string {
  return `${r.job.scenario}-${r.job.bug ?? 'clean'}-${r.job.mode}-seed${r.job.seed}-${r.id.slice(0, 8)}.json`;
}

export class ResultsDir {
  readonly dir: string;
  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Check DIR (see the header) and make it a campaign folder of `c`. `files`: report files that
   * will be written at the end (refused without `force` only when DIR is not this campaign's).
   */
  static open(dir: string, c: Pick<Campaign, 'name' | 'jobs'>, force: boolean): ResultsDir {
    if (dir === '') throw new RangeError('--out: empty folder name');
    const abs = resolve(dir);
    if (existsSync(abs)) {
      if (!statSync(abs).isDirectory()) throw new RangeError(`--out: ${JSON.stringify(dir)} is a file, not a folder`);
      const entries = readdirSync(abs);
      if (entries.length > 0) {
        const m = ResultsDir.readMarker(abs);
        if (m === null) throw new RangeError(`--out: ${JSON.stringify(dir)} is not empty and is not a campaign's results folder (no ${MARKER}); not writing into it (give a new folder)`);
        if (m.name !== c.name && !force) throw new RangeError(`--out: ${JSON.stringify(dir)} holds the results of campaign ${JSON.stringify(m.name)}; not mixing campaign ${JSON.stringify(c.name)} into it without --force (or give a new folder)`);
      }
    }
    try {
      makeDirs(abs);
      makeDirs(join(abs, 'jobs'));
      makeDirs(join(abs, 'replays'));
      const probe = join(abs, `.kiolab-probe-${process.pid}-${Date.now()}`);
      closeSync(openSync(probe, 'wx'));
      unlinkSync(probe);
    } catch (e) {
      throw new RangeError(`--out: cannot write in ${JSON.stringify(dir)} (${reason(e)})`);
    }
    const rd = new ResultsDir(abs);
    const marker: Marker = { format: FORMAT, name: c.name, jobs: c.jobs };
    rd.writeAtomic(MARKER, `${JSON.stringify(marker, null, 1)}\n`);
    return rd;
  }

  /** The campaign marker of `dir`, or null when it has none (or not one kiolab wrote). */
  static readMarker(dir: string): Marker | null {
    const p = join(dir, MARKER);
    if (!existsSync(p)) return null;
    try {
      const m = JSON.parse(readFileSync(p, 'utf8')) as Marker;
      return m.format === FORMAT && typeof m.name === 'string' && Array.isArray(m.jobs) ? m : null;
    } catch {
      return null;
    }
  }

  /** The result of job `id`, if it finished in an earlier run. */
  result(id: string): JobResult | null {
    const p = join(this.dir, 'jobs', `${id}.json`);
    if (!existsSync(p)) return null;
    try {
      const r = JSON.parse(readFileSync(p, 'utf8')) as JobResult;
      return r.id === id ? r : null;
    } catch {
      return null;
    }
  }

  /** Keep a finished job's result (and its replay file). */
  save(r: JobResult): void {
    this.writeAtomic(join('jobs', `${r.id}.json`), `${JSON.stringify(r)}\n`);
    if (r.replayText !== null) this.writeAtomic(join('replays', replayName(r)), r.replayText);
  }

  /** Write a file of the folder whole or not at all (a coordinator killed mid-write leaves no half file). */
  writeAtomic(rel: string, data: string): void {
    const p = join(this.dir, rel);
    const tmp = `${p}.tmp-${process.pid}`;
    writeFileSync(tmp, data);
    renameSync(tmp, p);
  }

  path(rel: string): string {
    return join(this.dir, rel);
  }
}

/** Make folder `dir` and its missing parents, one level at a time (see src/cli/outputs.ts). */
function makeDirs(dir: string): void {
  const missing: string[] = [];
  let d = resolve(dir);
  while (!existsSync(d)) {
    missing.push(d);
    const up = resolve(d, '..');
    if (up === d) break;
    d = up;
  }
  if (existsSync(d) && !statSync(d).isDirectory()) throw Object.assign(new Error(`${d} is not a folder`), { code: 'ENOTDIR' });
  for (const m of missing.reverse()) mkdirSync(m);
}
