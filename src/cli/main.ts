// raftguard command line: dispatches to subcommands. Returns the process exit code.
export async function main(argv: string[]): Promise<number> {
  process.stderr.write(`raftguard: unknown command ${argv[0] ?? ''}\n`);
  return 2;
}
