// `raftguard run --config FILE`: RaftGuard in front of a cluster until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load.js';
import { loadRunConfig } from '../config/run-config.js';
import { startRun } from '../runtime/runner.js';
import { createLogger } from '../sinks/log.js';
import { UsageError, type Io } from './io.js';

export const RUN_USAGE = `usage: raftguard run --config FILE [--log-level LEVEL]

Starts one relay listener per member (the address peers are told to dial), decodes a copy of the
peer traffic, checks it, and serves /metrics and the JSON API on the admin listener.
See config/ for examples. Stops cleanly on SIGINT or SIGTERM.`;

export async function runCommand(argv: string[], io: Io): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, 'log-level': { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${RUN_USAGE}`);
  }
  if (args.values.help) {
    io.out(RUN_USAGE + '\n');
    return 0;
  }
  if (!args.values.config) throw new UsageError(`--config FILE is required\n${RUN_USAGE}`);
  let cfg;
  try {
    cfg = loadRunConfig(args.values.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(`raftguard run: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger(args.values['log-level'] ?? cfg.log.level);
  let running;
  try {
    running = await startRun(cfg, { log });
  } catch (err) {
    io.err(`raftguard run: ${(err as Error).message}\n`);
    return 2;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string): void => {
      log.info({ event: 'signal', signal: sig }, `received ${sig}, shutting down`);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  await running.stop();
  return 0;
}
