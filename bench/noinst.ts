/**
 * The uninstrumented build: the same sources as dist/, compiled by the TypeScript compiler API
 * with a transformer that removes the race lab's instrumentation, into dist/noinst/ (src/ and
 * workers/ only; dist/ is not in git). What it removes:
 *
 *  - hook calls: `if (x._hook !== null) x._hook.at(...)` and `x._hook?.at(...)` statements
 *    (src/sync/locks.ts: the spinlock and sleep lock slow paths; src/sync/sleepq.ts: the sleep
 *    slow path and HookedSync);
 *  - user points: `s.point(name, addr);` statements (subsystem code);
 *  - bug switches: `bugs.any && ...` chains become `false`, and the `if`, `!` and `?:` around
 *    them are folded, so the correct code is all that is left.
 *
 * `npm run bench` builds it (the instrumentation benchmark calls `buildNoinst`); by hand:
 * `node dist/bench/noinst.js` prints what it removed.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export interface NoinstStats {
  files: number;
  hooks: number;
  points: number;
  switches: number;
  outDir: string;
  ms: number;
}

/** The repository root (dist/bench/noinst.js lives two levels down). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where the uninstrumented tree goes (its src/ and workers/ mirror dist/). */
export const NOINST_DIR = join(REPO_ROOT, 'dist', 'noinst');

const isBugsAny = (e: ts.Expression): boolean => ts.isPropertyAccessExpression(e) && e.name.text === 'any' && ts.isIdentifier(e.expression) && e.expression.text === 'bugs';

const strip = (e: ts.Expression): ts.Expression => (ts.isParenthesizedExpression(e) ? strip(e.expression) : e);

/** An expression without side effects (names, literals, property reads, comparisons, `!`). */
function pure(e: ts.Expression): boolean {
  e = strip(e);
  if (ts.isIdentifier(e) || ts.isLiteralExpression(e) || e.kind === ts.SyntaxKind.TrueKeyword || e.kind === ts.SyntaxKind.FalseKeyword || e.kind === ts.SyntaxKind.ThisKeyword) return true;
  if (ts.isPropertyAccessExpression(e)) return pure(e.expression);
  if (ts.isPrefixUnaryExpression(e)) return pure(e.operand);
  if (ts.isBinaryExpression(e)) return e.operatorToken.kind !== ts.SyntaxKind.EqualsToken && pure(e.left) && pure(e.right);
  return false;
}

/** `bugs.any && ...` (possibly after pure operands): false whenever no switch is on. */
function switchChain(e: ts.Expression): boolean {
  e = strip(e);
  if (isBugsAny(e)) return true;
  if (!ts.isBinaryExpression(e) || e.operatorToken.kind !== ts.SyntaxKind.AmpersandAmpersandToken) return false;
  return switchChain(e.left) || (switchChain(e.right) && pure(e.left));
}

const isHookField = (e: ts.Expression): boolean => ts.isPropertyAccessExpression(e) && (e.name.text === 'hook' || e.name.text === '_hook');

/** `x.hook.at(...)` or `x._hook?.at(...)`. */
function isHookCall(e: ts.Expression): boolean {
  return ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression) && e.expression.name.text === 'at' && isHookField(e.expression.expression);
}

/** `if (x.hook !== null) x.hook.at(...)` (or `_hook`) with no else. */
function isHookGuard(s: ts.IfStatement): boolean {
  const c = strip(s.expression);
  if (s.elseStatement || !ts.isBinaryExpression(c) || c.operatorToken.kind !== ts.SyntaxKind.ExclamationEqualsEqualsToken) return false;
  if (!isHookField(c.left) || c.right.kind !== ts.SyntaxKind.NullKeyword) return false;
  const t = s.thenStatement;
  const call = ts.isExpressionStatement(t) ? t.expression : ts.isBlock(t) && t.statements.length === 1 && ts.isExpressionStatement(t.statements[0]) ? t.statements[0].expression : null;
  return !!call && isHookCall(call);
}

/** `s.point(name, addr);` */
function isPointStatement(s: ts.ExpressionStatement): boolean {
  const e = s.expression;
  return ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression) && e.expression.name.text === 'point' && e.arguments.length === 2;
}

const literal = (e: ts.Expression): boolean | null => {
  e = strip(e);
  return e.kind === ts.SyntaxKind.TrueKeyword ? true : e.kind === ts.SyntaxKind.FalseKeyword ? false : null;
};

/** The transformer; counts what it removed in `stats`. */
export function noinstTransformer(stats: { hooks: number; points: number; switches: number }): ts.TransformerFactory<ts.SourceFile> {
  return (ctx) => (sf) => {
    const f = ctx.factory;
    // A removed statement: nothing in a statement list, an empty statement where one is required.
    const gone = (node: ts.Node) => (node.parent && (ts.isBlock(node.parent) || ts.isSourceFile(node.parent) || ts.isCaseOrDefaultClause(node.parent) || ts.isModuleBlock(node.parent)) ? undefined : f.createEmptyStatement());
    const fold = (n: ts.Node): ts.Node | undefined => {
      if (ts.isPrefixUnaryExpression(n) && n.operator === ts.SyntaxKind.ExclamationToken) {
        const v = literal(n.operand);
        if (v !== null) return v ? f.createFalse() : f.createTrue();
      }
      if (ts.isParenthesizedExpression(n) && literal(n.expression) !== null) return n.expression;
      if (ts.isConditionalExpression(n)) {
        const v = literal(n.condition);
        if (v !== null) return v ? n.whenTrue : n.whenFalse;
      }
      if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken) {
        const v = literal(n.left);
        if (v === false) return f.createFalse();
        if (v === true) return n.right;
      }
      if (ts.isIfStatement(n)) {
        const v = literal(n.expression);
        if (v === true) return n.thenStatement;
        if (v === false) return n.elseStatement ?? f.createEmptyStatement();
      }
      return n;
    };
    const visit = (node: ts.Node): ts.Node | undefined => {
      if (ts.isIfStatement(node) && isHookGuard(node)) {
        stats.hooks++;
        return gone(node);
      }
      if (ts.isExpressionStatement(node) && isHookCall(node.expression)) {
        stats.hooks++;
        return gone(node);
      }
      if (ts.isExpressionStatement(node) && isPointStatement(node)) {
        stats.points++;
        return gone(node);
      }
      if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken && switchChain(node)) {
        stats.switches++;
        return f.createFalse();
      }
      return fold(ts.visitEachChild(node, visit, ctx));
    };
    return ts.visitNode(sf, visit) as ts.SourceFile;
  };
}

/** The repository's tsconfig.json, parsed (its root files and compiler options). */
export function readTsconfig(): ts.ParsedCommandLine {
  const cfgPath = join(REPO_ROOT, 'tsconfig.json');
  const host: ts.ParseConfigFileHost = { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); } };
  const cfg = ts.getParsedCommandLineOfConfigFile(cfgPath, {}, host);
  if (!cfg) throw new Error(`cannot read ${cfgPath}`);
  return cfg;
}

/**
 * The options for compiling one file alone (`ts.transpileModule`): tsconfig.json's, with ES module
 * output, as tsc emits for this package ("type": "module"; one file alone cannot tell), no
 * declarations or source maps, and isolatedModules (const enums become plain objects).
 */
export function transpileOptions(cfg = readTsconfig()): ts.CompilerOptions {
  return { ...cfg.options, module: ts.ModuleKind.ES2022, moduleResolution: ts.ModuleResolutionKind.Bundler, declaration: false, sourceMap: false, inlineSourceMap: false, isolatedModules: true };
}

/**
 * Compile src/, workers/ and bench/ of the repository (the compiler options of its tsconfig.json) without
 * instrumentation into `outDir` (default dist/noinst), one file at a time (as tsc's
 * isolatedModules: const enums become plain objects; no type check — `tsc -p .` does that).
 */
export function buildNoinst(outDir = NOINST_DIR): NoinstStats {
  const t0 = performance.now();
  const cfg = readTsconfig();
  const files = cfg.fileNames.filter((p) => /^(src|workers|bench)[\\/]/.test(relative(REPO_ROOT, p)) && !p.endsWith('.d.ts'));
  const options = transpileOptions(cfg);
  const stats = { hooks: 0, points: 0, switches: 0 };
  const transformers = { before: [noinstTransformer(stats)] };
  for (const file of files) {
    const rel = relative(REPO_ROOT, file).replace(/\.ts$/, '.js');
    const out = ts.transpileModule(readFileSync(file, 'utf8'), { compilerOptions: options, fileName: file, transformers });
    mkdirSync(dirname(join(outDir, rel)), { recursive: true });
    writeFileSync(join(outDir, rel), out.outputText);
  }
  return { files: files.length, ...stats, outDir, ms: performance.now() - t0 };
}

/**
 * Build dist/noinst unless it is newer than every source it comes from and than this
 * transformer (a stamp file records the build); returns the stats of the build or of the last one.
 */
export function ensureNoinst(outDir = NOINST_DIR): NoinstStats & { rebuilt: boolean } {
  const stamp = join(outDir, 'noinst-stamp.json');
  const inputs = [join(REPO_ROOT, 'bench', 'noinst.ts'), join(REPO_ROOT, 'tsconfig.json'), ...listTs(join(REPO_ROOT, 'src')), ...listTs(join(REPO_ROOT, 'workers')), ...listTs(join(REPO_ROOT, 'bench'))];
  const newest = Math.max(...inputs.map((f) => statSync(f).mtimeMs));
  if (existsSync(stamp)) {
    const last = JSON.parse(readFileSync(stamp, 'utf8')) as NoinstStats & { newest: number };
    if (last.newest >= newest && existsSync(join(outDir, 'workers', 'role.js'))) return { ...last, rebuilt: false };
  }
  const s = buildNoinst(outDir);
  writeFileSync(stamp, JSON.stringify({ ...s, newest }));
  return { ...s, rebuilt: true };
}

function listTs(dir: string): string[] {
  return ts.sys.readDirectory(dir, ['.ts'], undefined, undefined).filter((f) => !f.endsWith('.d.ts'));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const s = buildNoinst();
  console.log(`noinst: ${s.files} files into ${s.outDir} in ${Math.round(s.ms)} ms; removed ${s.hooks} hook calls, ${s.points} points, ${s.switches} switch checks`);
}
