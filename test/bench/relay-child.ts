// Benchmark helper: runs one Relay (as users run it, in its own process) in front of a target port,
// with the passive HTTP/2 + gRPC reader attached unless --no-reader is given.
// Usage: node dist/test/bench/relay-child.js <targetPort> [--no-reader]
// Prints one JSON line {"port":N} when listening; on SIGTERM prints {"stats":…} to stderr and exits.
import { Relay } from '../../proxy/relay.js';
import { createHttp2Tap } from '../../proxy/http2/reader.js';

const targetPort = Number(process.argv[2]);
if (!Number.isInteger(targetPort) || targetPort <= 0) {
  process.stderr.write(`relay-child: argv[2] must be the target port, got ${JSON.stringify(process.argv[2])}\n`);
  process.exit(2);
}
const withReader = !process.argv.includes('--no-reader');

let messages = 0;
let messageBytes = 0;
let readErrors = 0;
const tap = withReader
  ? createHttp2Tap({
      onMessage: (m) => {
        messages++;
        messageBytes += m.data.length;
      },
      onError: (e) => {
        readErrors++;
        process.stderr.write(`relay-child: reader stopped on ${e.conn} ${e.dir}@${e.offset}: ${e.reason}\n`);
      },
    })
  : undefined;

const relay = new Relay({
  member: 'bench',
  listen: { host: '127.0.0.1', port: 0 },
  target: { host: '127.0.0.1', port: targetPort },
  tapFactory: tap,
});
const addr = await relay.start();
process.stdout.write(JSON.stringify({ port: addr.port }) + '\n');

process.on('SIGTERM', () => {
  process.stderr.write(JSON.stringify({ stats: { messages, messageBytes, readErrors, reader: tap?.stats, relay: relay.stats } }) + '\n');
  void relay.close().then(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
});
