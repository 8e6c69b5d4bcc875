// Benchmark helper: the smallest relay Node allows, in its own process, in front of a target port:
// each accepted socket piped to a dialed one and back (stream backpressure, no reader, no stats). It is
// the floor any relay written on Node pays, which bench:relay holds RaftGuard's Relay against.
// Usage: node dist/test/bench/bare-relay-child.js <targetPort>
// Prints one JSON line {"port":N} when listening; exits on SIGTERM.
import net from 'node:net';

const targetPort = Number(process.argv[2]);
if (!Number.isInteger(targetPort) || targetPort <= 0) {
  process.stderr.write(`bare-relay-child: argv[2] must be the target port, got ${JSON.stringify(process.argv[2])}\n`);
  process.exit(2);
}
const server = net.createServer({ noDelay: true }, (client) => {
  const target = net.connect({ host: '127.0.0.1', port: targetPort, noDelay: true });
  client.pipe(target).pipe(client);
  client.on('error', () => target.destroy());
  target.on('error', () => client.destroy());
});
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: (server.address() as net.AddressInfo).port }) + '\n'));
process.on('SIGTERM', () => process.exit(0));
