// Builds src/demo into dist/ for the tests that spawn dist/src/demo/node-main.js. Test files run in
// parallel workers: a lock directory (mkdir is atomic) lets one build while the others wait, and a
// build is skipped when every output is newer than its source, so a spawned node never reads a
// file another worker is rewriting.
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

export async function buildDemo(): Promise<void> {
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
    if (!upToDate()) {
      execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(__dirname, 'tsconfig.build.json')], { cwd: REPO, stdio: 'pipe' });
    }
  } finally {
    rmdirSync(LOCK);
  }
}
