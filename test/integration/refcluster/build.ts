// Builds into dist/ for the tests that spawn built code: src/demo (dist/src/demo/node-main.js) or the
// whole tree (bin/raftguard.js runs dist/). Test files run in parallel workers: a lock directory
// (mkdir is atomic) lets one build while the others wait, and a build is skipped when every output is
// newer than its source (as after `npm test`'s own build), so a spawned node never reads a file
// another worker is rewriting.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const REPO = resolve(__dirname, '../../..');
const LOCK = join(REPO, 'dist', '.refcluster-build.lock');

function upToDate(): boolean {
  const src = join(REPO, 'src', 'demo');
  return readdirSync(src)
    .filter((f) => f.endsWith('.ts'))
    .every((f) => {
      const out = join(REPO, 'dist', 'src', 'demo', f.replace(/\.ts$/, '.js'));
      return existsSync(out) && statSync(out).mtimeMs >= statSync(join(src, f)).mtimeMs;
    });
}

/** Every .ts below `dir` (relative to the repo) has a newer .js in dist/. */
function treeUpToDate(dir: string): boolean {
  const walk = (rel: string): boolean =>
    readdirSync(join(REPO, rel), { withFileTypes: true }).every((d) => {
      const r = join(rel, d.name);
      if (d.isDirectory()) return walk(r);
      if (!d.name.endsWith('.ts') || d.name.endsWith('.d.ts')) return true;
      const out = join(REPO, 'dist', r.replace(/\.ts$/, '.js'));
      return existsSync(out) && statSync(out).mtimeMs >= statSync(join(REPO, r)).mtimeMs;
    });
  return walk(dir);
}

/** The whole tree (src/, proxy/), for tests that run the CLI as its own process. */
export function buildAll(): Promise<void> {
  return build(
    () => treeUpToDate('src') && treeUpToDate('proxy'),
    join(REPO, 'tsconfig.json'),
  );
}

export function buildDemo(): Promise<void> {
  return build(upToDate, join(__dirname, 'tsconfig.build.json'));
}

async function build(fresh: () => boolean, tsconfig: string): Promise<void> {
  mkdirSync(join(REPO, 'dist'), { recursive: true });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      // A lock older than a minute is left over from a killed run.
      if (existsSync(LOCK) && Date.now() - statSync(LOCK).mtimeMs > 60_000) rmdirSync(LOCK);
      if (Date.now() > deadline) throw new Error(`waited 60 s for ${LOCK}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    if (!fresh()) {
      try {
        execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { cwd: REPO, stdio: 'pipe', encoding: 'utf8' });
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string };
        throw new Error(`build failed (${tsconfig}): ${e.stdout ?? ''}${e.stderr ?? ''}`);
      }
    }
  } finally {
    rmdirSync(LOCK);
  }
}
