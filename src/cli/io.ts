// Output seam for commands, so tests can run them in-process and read what they print.

export interface Io {
  out(s: string): void;
  err(s: string): void;
}

export const processIo: Io = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
};

/** Bad arguments: printed with usage, exit code 2. */
export class UsageError extends Error {}
