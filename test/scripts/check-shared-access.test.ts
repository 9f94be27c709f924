/**
 * scripts/check-shared-access.mjs, run by `npm test` before mocha: the build fails when code
 * outside src/shm and src/sync touches the arena without a view, a field or the sync primitives.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../../scripts/check-shared-access.mjs', import.meta.url));

function check(files: Record<string, string>): { code: number | null; out: string; err: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kiolab-access-'));
  try {
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(join(dir, f, '..'), { recursive: true });
      writeFileSync(join(dir, f), text);
    }
    const r = spawnSync(process.execPath, [script, dir], { encoding: 'utf8' });
    return { code: r.status, out: r.stdout, err: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('scripts/check-shared-access.mjs', () => {
  it('passes on this repository', () => {
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
  });

  it('fails on a raw Atomics call, an i32[] index or a .u8 access outside src/shm and src/sync, naming file and line', () => {
    const r = check({
      'src/bufcache/bad.ts': 'export function f(i32: Int32Array) {\n  return Atomics.load(i32, 3);\n}\n',
      'src/swap/bad.ts': 'const x = 1;\nexport const g = (a: { i32: Int32Array }) => a.i32[4] + x;\n',
      'src/device/bad.ts': 'export const h = (a: { u8: Uint8Array }) => a.u8;\n',
    });
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/3 raw shared access/);
    expect(r.err).to.contain('src/bufcache/bad.ts:2:').and.contain('src/swap/bad.ts:2:').and.contain('src/device/bad.ts:1:');
  });

  it('allows them in src/shm and src/sync, and in comments', () => {
    const r = check({
      'src/shm/ok.ts': 'export const f = (i32: Int32Array) => Atomics.load(i32, 0);\n',
      'src/sync/ok.ts': 'export const g = (i32: Int32Array) => i32[0];\n',
      'src/race/ok.ts': '// Atomics.load(i32, 0) is what the view does for us\n/*\n * i32[k] in a comment\n */\nexport const x = 1;\n',
    });
    expect(r.code, r.err).to.equal(0);
  });
});
