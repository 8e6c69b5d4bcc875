// `raftguard noop --node ID [--url] [--token]`: asks a running instance (active mode) to send the guarded
// no-op to ID now, with the same guards as the automatic trigger. Exit 0 = sent and accepted.
import { parseArgs } from 'node:util';
import { UsageError, type Io } from './io.js';

export const NOOP_USAGE = `usage: raftguard noop --node ID [--url http://127.0.0.1:9900] [--token TOKEN]`;

export async function noopCommand(argv: string[], io: Io): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: argv, options: { node: { type: 'string' }, url: { type: 'string', default: 'http://127.0.0.1:9900' }, token: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${NOOP_USAGE}`);
  }
  if (args.values.help) {
    io.out(NOOP_USAGE + '\n');
    return 0;
  }
  if (!args.values.node) throw new UsageError(`--node ID is required\n${NOOP_USAGE}`);
  const token = args.values.token ?? process.env.RAFTGUARD_ADMIN_TOKEN;
  const url = `${args.values.url!.replace(/\/$/, '')}/api/noop`;
  try {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ node: args.values.node }),
    });
    const body = (await r.json()) as { result?: string; reason?: string; error?: string };
    if (r.status === 404) {
      io.err(`raftguard noop: ${url} not found: is the instance running with mode: active?\n`);
      return 2;
    }
    io.out(`${body.result ?? 'error'}: ${body.reason ?? body.error ?? ''}\n`);
    return body.result === 'ok' ? 0 : 1;
  } catch (err) {
    io.err(`raftguard noop: cannot reach ${url}: ${(err as Error).message}\n`);
    return 2;
  }
}
