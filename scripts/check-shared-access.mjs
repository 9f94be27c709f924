#!/usr/bin/env node
// Every shared access must be visible to the race lab: outside src/shm and src/sync, code touches
// the arena only through views, bound fields, the arena's byte-range helpers and the sync
// primitives (DESIGN: "Every shared access is visible"). This check fails the build on a raw
// `Atomics.*(...)` call, an `i32[...]`/`i64[...]` index or a direct `.u8` byte access in src/.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// The repository root (or, for the check's own test, the folder given as the first argument).
const root = process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url));
const allowed = ['src/shm/', 'src/sync/'];
const raw = [/\bAtomics\.[a-zA-Z]+\(/, /\bi32\[/, /\bi64\[/, /\.u8\b/];

function* tsFiles(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* tsFiles(p);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) yield p;
  }
}

const found = [];
for (const file of tsFiles(join(root, 'src'))) {
  const rel = relative(root, file).split('\\').join('/');
  if (allowed.some((a) => rel.startsWith(a))) continue;
  readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '');
    if (/^\s*(\*|\/\*)/.test(code)) return; // comment lines
    if (raw.some((re) => re.test(code))) found.push(`${rel}:${i + 1}: ${line.trim()}`);
  });
}
if (found.length > 0) {
  console.error(`check-shared-access: ${found.length} raw shared access(es) outside src/shm and src/sync; use views, bound fields or the arena's byte helpers:\n${found.join('\n')}`);
  process.exit(1);
}
console.log('check-shared-access: every shared access in src/ goes through views, fields and the sync primitives');
