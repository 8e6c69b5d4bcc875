// Shared by the integration harnesses: polling for a condition with a clear timeout message, and a
// loopback tcpdump that is known to be listening before the traffic it must see starts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

export const haveTcpdump = spawnSync('tcpdump', ['--version'], { stdio: 'ignore' }).status === 0;

/** Polls `cond` every 150 ms until it holds; the error names what was awaited, the last error and where the logs are. */
export async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string, logsDir?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await cond()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}${logsDir ? `; logs in ${logsDir}` : ''}`);
}

/** tcpdump of all loopback TCP into `file`, resolved once it says it is listening. */
export async function startTcpdump(file: string): Promise<ChildProcess> {
  const dump = spawn('tcpdump', ['-i', 'lo', '-w', file, '-U', '-B', '32768', 'tcp'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 10_000);
    dump.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    dump.once('exit', (c) => reject(new Error(`tcpdump exited ${c}: ${err}`)));
  });
  return dump;
}

/** Stops a capture cleanly: tcpdump hands packets over in blocks retired within 1 s, so wait that out first. */
export async function stopTcpdump(dump: ChildProcess): Promise<void> {
  await new Promise((r) => setTimeout(r, 1500));
  if (dump.exitCode !== null || dump.signalCode !== null) return;
  const exited = new Promise<void>((r) => dump.once('exit', () => r()));
  dump.kill('SIGINT');
  await exited;
}
