// raftguard command line: dispatches to subcommands. Returns the process exit code.
import { processIo, UsageError, type Io } from './io.js';
import { replayCommand } from './replay.js';
import { runCommand } from './run.js';
import { demoCommand } from './demo.js';
import { statusCommand } from './status.js';
import { noopCommand } from './noop.js';

const USAGE = `usage: raftguard <command> [options]

commands:
  demo            a reference Raft cluster behind RaftGuard with a scripted scenario (npm start)
  run --config F  put RaftGuard in front of a cluster (relay, decode, check, serve metrics/API)
  replay FILE     replay a capture (format v1) through the checks and report
  status          show a running instance's view of the cluster and its findings
  noop --node ID  ask a running instance (active mode) to send the guarded no-op now
  help            this text

Run \`raftguard <command> --help\` for a command's options.`;

type Command = (argv: string[], io: Io) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  replay: replayCommand,
  run: runCommand,
  demo: demoCommand,
  status: statusCommand,
  noop: noopCommand,
};

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.out(USAGE + '\n');
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    io.err(`raftguard: unknown command "${name}"\n${USAGE}\n`);
    return 2;
  }
  try {
    return await cmd(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`raftguard ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
